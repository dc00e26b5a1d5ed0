package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// maxErrorBody bounds how much of a failure's body Call reads.
const maxErrorBody = 64 << 10

// Call invokes endpoint (Service.Method) of service under the RPC convention:
// req is sent as JSON and a 2xx answer is decoded into rsp, which may be nil to
// discard it. A non-2xx answer is returned as an *rpc.Error carrying the
// node's status and problem; transport failures as *AttemptError, a service
// with no nodes as *NoNodesError, and a spent budget as an error wrapping
// budget.ErrSpent or context.DeadlineExceeded. rpc.StatusOf maps each onto
// the status a handler should answer with.
func (c *Client) Call(ctx context.Context, service, endpoint string, req, rsp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("upstream: encoding the request to %s: %w", endpoint, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://placeholder", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.URL = &url.URL{Scheme: "http", Host: service, Path: rpc.Path(endpoint)}
	hr.Host = service
	hr.Header.Set("Content-Type", rpc.ContentType)
	hr.Header.Set("Accept", rpc.ContentType)
	resp, err := c.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if rsp == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			return err
		}
		if err := json.NewDecoder(resp.Body).Decode(rsp); err != nil {
			return fmt.Errorf("upstream: decoding the answer of %s.%s: %w", service, endpoint, err)
		}
		return nil
	}
	return decodeError(resp)
}

// decodeError turns a non-2xx answer into an *rpc.Error.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &rpc.Error{}
	if problem.IsProblem(resp.Header.Get("Content-Type")) {
		_ = json.Unmarshal(b, e)
	} else {
		e.Detail = strings.TrimSpace(string(b))
	}
	e.Status = resp.StatusCode
	e.Retry = resp.Header.Get(RetryHeader)
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}
