package rmap_test

import (
	"fmt"

	"github.com/sluicehq/sluice/internal/rmap"
)

func ExampleMap() {
	type state struct{ calls int }
	var services rmap.Map[string, *state]
	// The first caller of a service makes its state; every later one finds it.
	get := func(name string) *state {
		if s, ok := services.Load(name); ok {
			return s
		}
		s, _ := services.LoadOrStore(name, new(state))
		return s
	}
	get("greeter").calls++
	get("greeter").calls++
	get("orders").calls++
	fmt.Println(get("greeter").calls, get("orders").calls)
	// Output: 2 1
}
