package setup

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// envVar is one line of a settings file. Secret values are shown redacted
// in a dry run.
type envVar struct {
	Key, Value string
	Secret     bool
	Comment    string
}

// renderEnv writes a settings file in systemd's EnvironmentFile syntax:
// KEY="value" with backslash and double quote escaped, so ZEITWORK_ARGS
// may hold spaces (the unit splits $ZEITWORK_ARGS into words).
func renderEnv(head string, vars []envVar, redact bool) string {
	var b strings.Builder
	b.WriteString(head)
	for _, v := range vars {
		if v.Comment != "" {
			b.WriteString("# " + v.Comment + "\n")
		}
		val := v.Value
		if redact && v.Secret && val != "" {
			val = "<secret, not shown>"
		}
		b.WriteString(v.Key + "=" + quoteEnv(val) + "\n")
	}
	return b.String()
}

func quoteEnv(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// readEnv reads a settings file renderEnv wrote; a missing file is empty.
func readEnv(path string) map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if u, err := strconv.Unquote(v); err == nil && strings.HasPrefix(v, `"`) {
			v = u
		}
		out[k] = v
	}
	return out
}
