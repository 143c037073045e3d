//go:build slotgate_testhooks

package codec

import (
	"os"
	"strings"
)

// A binary built with -tags slotgate_testhooks hides the commands named in
// SLOTGATE_TEST_HIDE_COMMANDS (comma-separated) from the generated table before anything looks
// one up, so that an end-to-end test can watch slotgate learn them from the cluster.
func init() {
	if v := os.Getenv("SLOTGATE_TEST_HIDE_COMMANDS"); v != "" {
		HideForTest(strings.Split(v, ",")...)
	}
}
