// Package mail sends the operator's few plain-text messages (invitations)
// through an SMTP relay the operator configures. Mail is optional: without
// a relay, the CLI prints what would have been mailed.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Security modes of the connection to the relay.
const (
	// StartTLS upgrades a plain connection (port 587) and refuses a relay
	// that does not offer it: credentials and invitation tokens never
	// travel in clear.
	StartTLS = "starttls"
	// ImplicitTLS speaks TLS from the first byte (port 465).
	ImplicitTLS = "tls"
	// Plain is for a relay on the same host or a trusted network only.
	Plain = "none"
)

// Config is an SMTP relay.
type Config struct {
	Addr     string // host:port
	From     string // sender address, e.g. "Zeitwork <zeitwork@example.com>"
	Username string // empty: no AUTH
	Password string
	Security string // StartTLS (default), ImplicitTLS or Plain
	// TLS, if set, is used for the relay's certificate (a private CA);
	// ServerName defaults to the relay's host.
	TLS *tls.Config
	// Timeout bounds one message's delivery to the relay (default 30 s).
	Timeout time.Duration
}

// Check says what is wrong with c, or nil.
func (c Config) Check() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smtp relay address %q: give host:port, e.g. smtp.example.com:587", c.Addr)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("smtp sender %q: give an address such as \"Zeitwork <zeitwork@example.com>\": %w", c.From, err)
	}
	switch c.Security {
	case "", StartTLS, ImplicitTLS, Plain:
	default:
		return fmt.Errorf("smtp security %q: use %s, %s or %s", c.Security, StartTLS, ImplicitTLS, Plain)
	}
	return nil
}

// Message is one plain-text message to one recipient.
type Message struct {
	To      string
	Subject string
	Body    string
}

// errHeader is a header value that would start another header.
var errHeader = errors.New("mail header contains a line break")

// Send delivers m through the relay.
func (c Config) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(c.From)
	if err != nil {
		return fmt.Errorf("smtp sender: %w", err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("recipient %q: %w", m.To, err)
	}
	msg, err := compose(from, to, m)
	if err != nil {
		return err
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := c.dial(ctx)
	if err != nil {
		return fmt.Errorf("smtp relay %s: %w", c.Addr, err)
	}
	defer client.Close()
	if c.Username != "" {
		if err := client.Auth(sasl.NewPlainClient("", c.Username, c.Password)); err != nil {
			return fmt.Errorf("smtp relay %s: log in as %s: %w", c.Addr, c.Username, err)
		}
	}
	if err := client.SendMail(from.Address, []string{to.Address}, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp relay %s: send to %s: %w", c.Addr, to.Address, err)
	}
	return client.Quit()
}

// dial connects to the relay with the configured security; the whole
// conversation is bounded by ctx's deadline.
func (c Config) dial(ctx context.Context) (*smtp.Client, error) {
	host, _, _ := net.SplitHostPort(c.Addr)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, err
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	tlsConfig := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c.TLS != nil {
		tlsConfig = c.TLS.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = host
		}
	}
	switch c.Security {
	case Plain:
		return smtp.NewClient(conn), nil
	case ImplicitTLS:
		return smtp.NewClient(tls.Client(conn, tlsConfig)), nil
	default:
		client, err := smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("STARTTLS (use --smtp-security tls for port 465, or none for a local relay): %w", err)
		}
		return client, nil
	}
}

// compose writes the message: UTF-8 text, quoted-printable, with the
// headers relays expect (Date, Message-ID).
func compose(from, to *mail.Address, m Message) ([]byte, error) {
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errHeader
	}
	var b bytes.Buffer
	id := make([]byte, 12)
	rand.Read(id)
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	fmt.Fprintf(&b, "From: %s\r\n", from.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	qp.Close()
	return b.Bytes(), nil
}
