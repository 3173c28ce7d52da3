package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/logwise/controlplane/shared/fault"
)

// decodeJSON reads a JSON body into v. Field names match case-insensitively and unknown
// fields are ignored, as the Logwise orchestrator's Jackson settings did, so existing
// clients keep working. An empty body leaves v as it is when optional, else it is an error.
func decodeJSON(r *http.Request, v any, optional bool) error {
	if r.Body == nil {
		if optional {
			return nil
		}
		return fault.Invalidf("a JSON body is required")
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fault.Invalidf("request body is larger than %d bytes", mbe.Limit)
		}
		return fault.Wrap(fault.Invalid, err, "read request body")
	}
	if strings.TrimSpace(string(data)) == "" {
		if optional {
			return nil
		}
		return fault.Invalidf("a JSON body is required")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fault.Invalidf("field %s: expected %s, got JSON %s", te.Field, te.Type, te.Value)
		}
		return fault.Wrap(fault.Invalid, err, "request body is not valid JSON")
	}
	return nil
}

// queryInt reads an optional integer query parameter bounded to [min, max].
func queryInt(r *http.Request, name string, def, min, max int) (int, error) {
	raw := r.URL.Query().Get(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fault.Invalidf("query parameter %s must be an integer, got %q", name, truncate(raw, 32))
	}
	if n < min || n > max {
		return 0, fault.Invalidf("query parameter %s must be between %d and %d, got %d", name, min, max, n)
	}
	return n, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
