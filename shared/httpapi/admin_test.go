package httpapi

import (
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestPeeringSwitchesNeedAnAdminTokenAndChangeWhatTheyName(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	s, _ := testServer(t, Deps{Switches: db})
	s.cfg.API.AdminTokenHashes = []string{config.HashToken("admin-secret")}
	h := s.Handler()
	admin := map[string]string{"Authorization": "Bearer admin-secret"}

	if code, body := do(t, h, "GET", "/admin/peering/switches", "", nil); code != 401 || body["error"] == nil {
		t.Fatalf("no token: %d %v", code, body)
	}
	if code, body := do(t, h, "GET", "/admin/peering/switches", "", map[string]string{"Authorization": "Bearer token-abc-1"}); code != 403 || body["error"].(map[string]any)["code"] != "NOT_ADMIN" {
		t.Fatalf("a tenant's token: %d %v", code, body)
	}
	code, body := do(t, h, "GET", "/admin/peering/switches", "", admin)
	if d := body["data"].(map[string]any); code != 200 || d["enabled"] != true || d["maxAllowedDeleteCount"] != nil {
		t.Fatalf("defaults: %d %v", code, body)
	}
	code, body = do(t, h, "PUT", "/admin/peering/switches", `{"peers":{"eu-west-1":false},"maxAllowedDeleteCount":250}`, admin)
	d := body["data"].(map[string]any)
	if code != 200 || d["enabled"] != true || d["peers"].(map[string]any)["eu-west-1"] != false || d["maxAllowedDeleteCount"].(float64) != 250 {
		t.Fatalf("after setting a peer and the limit: %d %v", code, body)
	}
	code, body = do(t, h, "PUT", "/admin/peering/switches", `{"enabled":false,"maxAllowedDeleteCount":null}`, admin)
	d = body["data"].(map[string]any)
	if code != 200 || d["enabled"] != false || d["maxAllowedDeleteCount"] != nil || d["peers"].(map[string]any)["eu-west-1"] != false {
		t.Fatalf("after switching peering off and clearing the limit: %d %v", code, body)
	}
	sw, err := db.PeeringSwitches(t.Context())
	if on, set := sw.PeerEnabled["eu-west-1"]; err != nil || sw.Enabled || sw.PeerOn("us-west-2") || !set || on {
		t.Fatalf("what the copier reads: %+v %v", sw, err)
	}
	for _, bad := range []string{`{"maxAllowedDeleteCount":-1}`, `{"maxAllowedDeleteCount":"many"}`, `{"peers":{"":true}}`, `nope`} {
		if code, body := do(t, h, "PUT", "/admin/peering/switches", bad, admin); code != 400 || body["error"] == nil {
			t.Fatalf("%s: %d %v", bad, code, body)
		}
	}
}
