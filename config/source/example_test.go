package source_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/config/source"
)

// A gateway reloads its file when it changes: it reads the file after each
// report and compares the hash with the one it serves.
func ExampleWatchFile() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gateway.yaml")
	_ = os.WriteFile(path, []byte("routes: []\n"), 0o644)
	fw, err := source.WatchFile(path, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer fw.Close()
	applied, _ := source.ReadFile(path)

	tmp := filepath.Join(dir, "gateway.yaml.new") // replaced as editors do
	_ = os.WriteFile(tmp, []byte("shutdown_grace: 5s\n"), 0o644)
	_ = os.Rename(tmp, path)

	<-fw.Changes()
	text, _ := source.ReadFile(path)
	fmt.Println(text.Hash() != applied.Hash(), string(text.Data))
	// Output: true shutdown_grace: 5s
}

// Every gateway replica follows one key; each version is handed over once.
func ExampleKVWatcher() {
	client, err := api.NewClient(&api.Config{Address: "127.0.0.1:8500"})
	if err != nil {
		return
	}
	w := source.NewKVWatcher(client.KV(), "consul://127.0.0.1:8500/sluice/config", "sluice/config")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real gateway runs it until it stops
	w.Run(ctx, 0, func(t source.Text, err error) {
		fmt.Println("version", t.Index, t.Hash(), err)
	})
}
