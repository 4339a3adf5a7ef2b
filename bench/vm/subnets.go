package main

// The bench's two platforms' VM subnets and transit links. They are in
// 10.238.0.0/16 and 10.239.0.0/16, which nothing else in the tree uses
// (subnets_test.go checks), so that the bench runs beside the test bed
// (10.247-10.249), the platform tests (10.236-10.246), the QEMU tests
// (10.250, 10.251) and the other benches (10.249-10.254).
const (
	coldSubnet  = "10.238.0.0/24"
	coldTransit = "10.239.0.0/30"
	tmplSubnet  = "10.238.1.0/24"
	tmplTransit = "10.239.0.4/30"
)
