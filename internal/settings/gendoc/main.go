// Command gendoc writes docs/config.md and docs/slotgate.example.yaml from the settings
// description (internal/settings), for go generate.
package main

import (
	"bytes"
	"flag"
	"log"
	"os"

	"github.com/slotgate/slotgate/internal/settings"
)

func main() {
	md := flag.String("md", "", "write the reference here")
	yaml := flag.String("yaml", "", "write the example file here")
	flag.Parse()
	var b bytes.Buffer
	settings.Markdown(&b)
	if err := os.WriteFile(*md, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	b.Reset()
	settings.Example(&b)
	if err := os.WriteFile(*yaml, b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
