package router

import "testing"

// TestSubConnAcksBounded: a subscriber connection whose expected acknowledgements never all
// drain (steady churn, one always outstanding) keeps a bounded list.
func TestSubConnAcksBounded(t *testing.T) {
	sc := &SubConn{}
	for i := range 100000 {
		sc.acks = append(sc.acks, ackWait{name: "x"})
		if i > 0 {
			sc.popAck()
		}
	}
	if len(sc.acks)-sc.ackHead != 1 || cap(sc.acks) > 4096 {
		t.Fatalf("%d outstanding, list of %d (capacity %d); want 1 outstanding in a bounded list", len(sc.acks)-sc.ackHead, len(sc.acks), cap(sc.acks))
	}
}
