// Command mkdb writes the GeoDNS benchmark's inputs into a directory: one
// MaxMind-format database (City-like records: country, continent and
// coordinates for 198.51.100.0/24 in Frankfurt, 203.0.113.0/24 in New
// York and 192.0.2.0/24 in Singapore) that both servers read, the
// zeitwork dns configurations (dns.json with response rate limiting off,
// dns-rrl.json with it on at a rate above any the benchmark reaches, so
// that every query is accounted and none limited: its cost), and
// PowerDNS's geoip zones file.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

type place struct {
	cidr, country, continent string
	lat, lon                 float64
}

var places = []place{
	{"198.51.100.0/24", "DE", "EU", 50.11, 8.68},
	{"203.0.113.0/24", "US", "NA", 40.71, -74.0},
	{"192.0.2.0/24", "SG", "AS", 1.35, 103.82},
}

func main() {
	dir := flag.String("dir", ".", "where to write geo.mmdb, dns.json, dns-rrl.json and zones.yaml")
	port := flag.Int("health-port", 53, "TCP port the load balancers are health-checked on")
	flag.Parse()
	if err := writeDB(filepath.Join(*dir, "geo.mmdb")); err != nil {
		log.Fatal(err)
	}
	db := filepath.Join(*dir, "geo.mmdb")
	write(filepath.Join(*dir, "dns.json"), fmt.Sprintf(dnsConfig, db, *port, `{"off": true}`))
	write(filepath.Join(*dir, "dns-rrl.json"), fmt.Sprintf(dnsConfig, db, *port, `{"responses_per_second": 100000000}`))
	write(filepath.Join(*dir, "zones.yaml"), zonesYAML)
}

func writeDB(path string) error {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		return err
	}
	for _, p := range places {
		_, n, _ := net.ParseCIDR(p.cidr)
		err := tree.Insert(n, mmdbtype.Map{
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(p.country)},
			"continent": mmdbtype.Map{"code": mmdbtype.String(p.continent)},
			"location":  mmdbtype.Map{"latitude": mmdbtype.Float64(p.lat), "longitude": mmdbtype.Float64(p.lon)},
		})
		if err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = tree.WriteTo(f)
	return err
}

func write(path, text string) {
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		log.Fatal(err)
	}
}

// The load balancers are loopback addresses on which the DNS server
// itself listens (it binds every address), so that their health checks
// pass without another process.
const dnsConfig = `{
  "zone": "apps.bench",
  "nameservers": [{"name": "ns1.apps.bench", "addrs": ["127.0.0.53"]}],
  "ttl": 30,
  "regions": [
    {"name": "eu", "latitude": 50.11, "longitude": 8.68, "continents": ["EU"], "load_balancers": ["127.0.1.1", "127.0.1.2"]},
    {"name": "na", "latitude": 40.71, "longitude": -74.0, "continents": ["NA"], "load_balancers": ["127.0.2.1", "127.0.2.2"]},
    {"name": "as", "latitude": 1.35, "longitude": 103.82, "continents": ["AS"], "load_balancers": ["127.0.3.1", "127.0.3.2"]}
  ],
  "geoip_database": %q,
  "health": {"port": %d, "interval": "5s"},
  "rrl": %s
}
`

// PowerDNS answers web.apps.bench with the records of
// <continent>.lb.apps.bench for the client's continent (ECS or source).
const zonesYAML = `domains:
- domain: apps.bench
  ttl: 30
  records:
    apps.bench:
      - soa: ns1.apps.bench hostmaster.apps.bench 2026112901 3600 600 1209600 60
      - ns: ns1.apps.bench
    ns1.apps.bench:
      - a: 127.0.0.53
    eu.lb.apps.bench:
      - a: 127.0.1.1
      - a: 127.0.1.2
    na.lb.apps.bench:
      - a: 127.0.2.1
      - a: 127.0.2.2
    as.lb.apps.bench:
      - a: 127.0.3.1
      - a: 127.0.3.2
    unknown.lb.apps.bench:
      - a: 127.0.1.1
      - a: 127.0.1.2
  services:
    web.apps.bench: '%cn.lb.apps.bench'
`
