package server_test

import (
	"context"
	"testing"
)

func TestSmokeSetGet(t *testing.T) {
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	ctx := context.Background()
	if err := cl.Set(ctx, "smoke", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.Get(ctx, "smoke").Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
}
