package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/mail"
	"github.com/zeitwork/zeitwork/internal/mail/mailtest"
)

// TestSendThroughStartTLS: a message reaches the relay over STARTTLS,
// logged in, with its headers and a body that survives encoding.
func TestSendThroughStartTLS(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{StartTLS: true, User: "zw", Password: "pw"})
	c := mail.Config{Addr: relay.Addr, From: "Zeitwork <zeitwork@example.test>", Username: "zw", Password: "pw",
		TLS: &tls.Config{RootCAs: relay.Roots}}
	if err := c.Check(); err != nil {
		t.Fatal(err)
	}
	body := "Run this:\n\n  zeitwork login --invite zwi_abc=def\n\nÜmlauts too.\n"
	if err := c.Send(context.Background(), mail.Message{To: "ada@example.test", Subject: "Join acme on Zeitwork", Body: body}); err != nil {
		t.Fatal(err)
	}
	msgs := relay.Messages()
	if len(msgs) != 1 || msgs[0].From != "zeitwork@example.test" || len(msgs[0].To) != 1 || msgs[0].To[0] != "ada@example.test" {
		t.Fatalf("delivered: %+v", msgs)
	}
	data := msgs[0].Data
	for _, want := range []string{"Subject: Join acme on Zeitwork", "To: <ada@example.test>", "Message-ID: <", "zwi_abc=3Ddef"} {
		if !strings.Contains(data, want) {
			t.Errorf("message lacks %q:\n%s", want, data)
		}
	}
}

// TestStartTLSRequired: a relay without STARTTLS gets neither the login
// nor the message.
func TestStartTLSRequired(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{User: "zw", Password: "pw"})
	c := mail.Config{Addr: relay.Addr, From: "zeitwork@example.test", Username: "zw", Password: "pw"}
	err := c.Send(context.Background(), mail.Message{To: "ada@example.test", Subject: "s", Body: "secret"})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("send without STARTTLS: %v", err)
	}
	if len(relay.Logins()) != 0 || len(relay.Messages()) != 0 {
		t.Fatalf("the relay got %v and %d messages in clear", relay.Logins(), len(relay.Messages()))
	}
	// Plain is for a local relay, chosen explicitly.
	c.Security = mail.Plain
	if err := c.Send(context.Background(), mail.Message{To: "ada@example.test", Subject: "s", Body: "b"}); err != nil {
		t.Fatal(err)
	}
	c.Password = "wrong"
	if err := c.Send(context.Background(), mail.Message{To: "ada@example.test", Subject: "s", Body: "b"}); err == nil || !strings.Contains(err.Error(), "log in as zw") {
		t.Fatalf("wrong password: %v", err)
	}
}

// TestHeaderInjectionRefused: a subject or recipient cannot add headers
// or recipients.
func TestHeaderInjectionRefused(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{})
	c := mail.Config{Addr: relay.Addr, From: "zeitwork@example.test", Security: mail.Plain}
	for _, m := range []mail.Message{
		{To: "ada@example.test", Subject: "hi\r\nBcc: eve@example.test", Body: "b"},
		{To: "ada@example.test\r\nBcc: eve@example.test", Subject: "hi", Body: "b"},
		{To: "ada@example.test, eve@example.test", Subject: "hi", Body: "b"},
	} {
		if err := c.Send(context.Background(), m); err == nil {
			t.Errorf("sent %+v", m)
		}
	}
	if n := len(relay.Messages()); n != 0 {
		t.Fatalf("%d messages delivered", n)
	}
}

func TestCheck(t *testing.T) {
	for _, c := range []mail.Config{
		{Addr: "smtp.example.test", From: "a@example.test"},
		{Addr: "smtp.example.test:587", From: "not an address"},
		{Addr: "smtp.example.test:587", From: "a@example.test", Security: "ssl"},
	} {
		if err := c.Check(); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}
