package main

import (
	"slices"
	"testing"
)

func TestMastersFirst(t *testing.T) {
	for _, tc := range []struct {
		ports    []int
		replicas int
		want     []int
	}{
		// Masters 7000/7002/7004; replica j of master j%3: 7001→7000, 7003→7002, 7005→7004.
		{[]int{7000, 7001, 7002, 7003, 7004, 7005}, 1, []int{7000, 7002, 7004, 7001, 7003, 7005}},
		{[]int{7000, 7001, 7002}, 0, []int{7000, 7001, 7002}},
		// Two replicas: 7001, 7002 of 7000; 7004, 7005 of 7003.
		{[]int{7000, 7001, 7002, 7003, 7004, 7005}, 2, []int{7000, 7003, 7001, 7004, 7002, 7005}},
	} {
		if got := mastersFirst(tc.ports, tc.replicas); !slices.Equal(got, tc.want) {
			t.Errorf("mastersFirst(%v, %d) = %v, want %v", tc.ports, tc.replicas, got, tc.want)
		}
	}
}
