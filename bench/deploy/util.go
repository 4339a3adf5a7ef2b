package main

import (
	"encoding/json"
	"io"
	"runtime"
)

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }

func numCPU() int { return runtime.NumCPU() }
