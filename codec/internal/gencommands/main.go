// Command gencommands writes the codec command table (table_gen.go) and its test
// (table_gen_test.go) from a checked-in dump of a real Redis server's COMMAND and COMMAND DOCS
// replies (testdata/commands/*.resp2, *.resp3). Generating needs no server; refreshing the dump
// does:
//
//	go run ./internal/gencommands -dump 127.0.0.1:6379   # refresh testdata/commands from a server
//	go generate ./...                                     # regenerate the table from the dump
package main

import (
	"flag"
	"log"
)

func main() {
	dumpAddr := flag.String("dump", "", "refresh the dump from the Redis server at this address, then generate")
	dir := flag.String("dir", "testdata/commands", "directory of the dump")
	out := flag.String("out", "table_gen.go", "generated table")
	testOut := flag.String("test", "table_gen_test.go", "generated test")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("gencommands: ")
	if *dumpAddr != "" {
		if err := dump(*dumpAddr, *dir); err != nil {
			log.Fatal(err)
		}
	}
	if err := generate(*dir, *out, *testOut); err != nil {
		log.Fatal(err)
	}
}
