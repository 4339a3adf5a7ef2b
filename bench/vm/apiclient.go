package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/zeitwork/zeitwork/internal/cli"
)

// getJSON reads an API resource into out.
func getJSON(login cli.Config, path string, out any) error {
	return call(login, "GET", path, out)
}

func call(login cli.Config, method, path string, out any) error {
	req, err := http.NewRequest(method, login.APIURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+login.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
