package localwire

import (
	"testing"

	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }
