package requestid_test

import (
	"context"
	"fmt"

	"github.com/sluicehq/sluice/requestid"
)

// A handler reads the id of the request it serves from its context, to log
// it or to name it in an error; the upstream client sends it on.
func ExampleFromContext() {
	ctx := requestid.NewContext(context.Background(), "f47ac10b-58cc-4372-a567-0e02b2c3d479")
	fmt.Println(requestid.FromContext(ctx))
	fmt.Println(requestid.Valid("not valid: spaces"))
	// Output:
	// f47ac10b-58cc-4372-a567-0e02b2c3d479
	// false
}

// A caller with room of its own writes a fresh id there instead of
// allocating a string for it.
func ExampleAppend() {
	var room [requestid.Len]byte
	id := requestid.Append(room[:0])
	fmt.Println(len(id), requestid.Valid(string(id)))
	// Output: 32 true
}
