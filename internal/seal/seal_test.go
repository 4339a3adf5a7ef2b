package seal

import (
	"bytes"
	"testing"
)

func TestRoundTripAndBinding(t *testing.T) {
	key, err := ParseKey(NewKey())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := New(key)
	sealed := s.Seal([]byte("hunter2"), "p1/DB_PASSWORD")
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("plaintext visible in sealed value")
	}
	got, err := s.Open(sealed, "p1/DB_PASSWORD")
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "p2/DB_PASSWORD"); err == nil {
		t.Fatal("value opened under another context")
	}
	other, _ := New(make([]byte, KeySize))
	if _, err := other.Open(sealed, "p1/DB_PASSWORD"); err == nil {
		t.Fatal("value opened with another key")
	}
	if _, err := s.Open(sealed[:5], "p1/DB_PASSWORD"); err == nil {
		t.Fatal("truncated value opened")
	}
	if _, err := ParseKey("c2hvcnQ="); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestDeriveSameForKeyDistinctPerLabelAndKey(t *testing.T) {
	k1, _ := ParseKey(NewKey())
	k2, _ := ParseKey(NewKey())
	a, _ := New(k1)
	b, _ := New(k1)
	c, _ := New(k2)
	if !bytes.Equal(a.Derive("x"), b.Derive("x")) {
		t.Fatal("two sealers with one key derive different secrets")
	}
	if bytes.Equal(a.Derive("x"), a.Derive("y")) {
		t.Fatal("two labels derive the same secret")
	}
	if bytes.Equal(a.Derive("x"), c.Derive("x")) {
		t.Fatal("two keys derive the same secret")
	}
	if len(a.Derive("x")) != 32 || bytes.Contains(a.Derive("x"), k1[:8]) {
		t.Fatal("derived secret is not 32 bytes of its own")
	}
}
