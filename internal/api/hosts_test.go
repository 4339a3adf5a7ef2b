package api

import "testing"

func TestVersionedLabel(t *testing.T) {
	tests := []struct {
		name, label, slug, project string
		ok                         bool
	}{
		{"plain", "abcd2345--web", "abcd2345", "web", true},
		{"hyphenated project", "abcd2345--my-app", "abcd2345", "my-app", true},
		{"old form", "web-abcd2345", "", "", false},
		{"project only", "web", "", "", false},
		{"no project", "abcd2345--", "", "", false},
		{"slug too short", "abcd234--web", "", "", false},
		{"slug not base32", "abcd2189--web", "", "", false},
		{"upper case slug", "ABCD2345--web", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			slug, project, ok := ParseVersionedLabel(tt.label)
			if slug != tt.slug || project != tt.project || ok != tt.ok {
				t.Fatalf("ParseVersionedLabel(%q) = %q, %q, %v", tt.label, slug, project, ok)
			}
		})
	}
}

func TestIsProjectName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "web": true, "my-app-2": true, "web-abcd2345": true,
		"": false, "-web": false, "web-": false, "my--app": false, "Web": false, "2web": false,
		"abcd2345--web": false, "a2345678901234567890123456789012345678901": false,
	} {
		if got := IsProjectName(name); got != want {
			t.Errorf("IsProjectName(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzHostLabels checks that host labels are unambiguous for any names a
// tenant may choose: no project's label is another deployment's versioned
// label, and two versioned labels are equal only for the same project and
// slug.
func FuzzHostLabels(f *testing.F) {
	f.Add("web", "abcd2345", "web-abcd2345", "abcd2345")
	f.Add("a", "aaaaaaaa", "aaaaaaaa--a", "bbbbbbbb")
	f.Add("my-app", "23456777", "my", "23456777")
	f.Fuzz(func(t *testing.T, p1, s1, p2, s2 string) {
		for _, label := range []string{p1, p2, s1, s2} {
			slug, project, ok := ParseVersionedLabel(label)
			if ok && VersionedLabel(project, slug) != label {
				t.Fatalf("%q parses as %q, %q, which does not give it back", label, slug, project)
			}
			if ok && IsProjectName(label) {
				t.Fatalf("%q is both a project name and a versioned label", label)
			}
		}
		if !IsProjectName(p1) || !IsProjectName(p2) || !IsSlug(s1) || !IsSlug(s2) {
			return
		}
		v1, v2 := VersionedLabel(p1, s1), VersionedLabel(p2, s2)
		if v1 == p2 || v2 == p1 {
			t.Fatalf("project %q and deployment %s of %q share a host", p2, s1, p1)
		}
		if v1 == v2 && (p1 != p2 || s1 != s2) {
			t.Fatalf("deployments %s of %q and %s of %q share host %q", s1, p1, s2, p2, v1)
		}
		if slug, project, ok := ParseVersionedLabel(v1); !ok || slug != s1 || project != p1 {
			t.Fatalf("%q parses as %q, %q, %v", v1, slug, project, ok)
		}
	})
}
