package geodns

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/maxminddb-golang/v2"
)

// Location is what is known of where a client is. Region is set by the
// CIDR table (or a database that carries zeitwork_region); the rest comes
// from a GeoIP database.
type Location struct {
	Region             string
	Country, Continent string
	Lat, Lon           float64
	HasCoords          bool
}

// record is the part of a MaxMind City/Country record we read, plus the
// CIDR table's own key.
type record struct {
	Region  string `maxminddb:"zeitwork_region"`
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Continent struct {
		Code string `maxminddb:"code"`
	} `maxminddb:"continent"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Locator turns an address into a Location through the CIDR table, then
// the GeoIP database. Both are MaxMind-format trees (the table is built
// into one at start), so one lookup gives the network the answer holds
// for, which is the ECS scope (RFC 7871).
type Locator struct {
	table, geo *maxminddb.Reader
	cache      sync.Map // cacheKey -> Location: records are shared by many networks
	cached     atomic.Int64
}

type cacheKey struct {
	geo bool
	off uintptr
}

// maxCached bounds the decoded records kept (a City database has some
// hundred thousand); past it records are decoded on each lookup.
const maxCached = 1 << 16

// NewLocator opens the database at path (none if empty) and builds the
// table of networks (CIDR -> region).
func NewLocator(path string, networks map[string]string) (*Locator, error) {
	l := &Locator{}
	if path != "" {
		r, err := maxminddb.Open(path)
		if err != nil {
			return nil, fmt.Errorf("open geoip database: %w", err)
		}
		l.geo = r
	}
	if len(networks) > 0 {
		r, err := buildTable(networks)
		if err != nil {
			return nil, err
		}
		l.table = r
	}
	return l, nil
}

// buildTable writes the table as a MaxMind tree in memory. Shorter
// prefixes go in first, so that a more specific one overrides them.
func buildTable(networks map[string]string) (*maxminddb.Reader, error) {
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "zeitwork-networks", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		return nil, fmt.Errorf("build networks table: %w", err)
	}
	prefixes := make([]netip.Prefix, 0, len(networks))
	regionOf := map[netip.Prefix]string{}
	for cidr, region := range networks {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return nil, fmt.Errorf("networks: %q: %w", cidr, err)
		}
		p = p.Masked()
		prefixes = append(prefixes, p)
		regionOf[p] = region
	}
	slices.SortFunc(prefixes, func(a, b netip.Prefix) int { return cmp.Compare(a.Bits(), b.Bits()) })
	for _, p := range prefixes {
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipnet, mmdbtype.Map{"zeitwork_region": mmdbtype.String(regionOf[p])}); err != nil {
			return nil, fmt.Errorf("networks: insert %s: %w", p, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("build networks table: %w", err)
	}
	return maxminddb.OpenBytes(buf.Bytes())
}

// Locate returns a's location and the prefix length it holds for: the
// longest of the networks the table and the database matched (the
// answer is the same within both).
func (l *Locator) Locate(a netip.Addr) (Location, int) {
	a = a.Unmap()
	scope := 0
	if l.table != nil {
		loc, bits, found := l.lookup(l.table, false, a)
		scope = bits
		if found && loc.Region != "" {
			return loc, scope
		}
	}
	if l.geo != nil {
		loc, bits, found := l.lookup(l.geo, true, a)
		if found {
			return loc, max(scope, bits)
		}
		scope = max(scope, bits)
	}
	return Location{}, scope
}

func (l *Locator) lookup(r *maxminddb.Reader, geo bool, a netip.Addr) (Location, int, bool) {
	res := r.Lookup(a)
	bits := 0
	if p := res.Prefix(); p.IsValid() {
		bits = p.Bits()
	}
	if res.Err() != nil || !res.Found() {
		return Location{}, bits, false
	}
	key := cacheKey{geo, res.Offset()}
	if v, ok := l.cache.Load(key); ok {
		return v.(Location), bits, true
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return Location{}, bits, false
	}
	loc := Location{Region: rec.Region, Country: rec.Country.ISOCode, Continent: rec.Continent.Code}
	if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
		loc.Lat, loc.Lon, loc.HasCoords = *rec.Location.Latitude, *rec.Location.Longitude, true
	}
	if l.cached.Load() < maxCached {
		l.cached.Add(1)
		l.cache.Store(key, loc)
	}
	return loc, bits, true
}

// Close releases the database.
func (l *Locator) Close() error {
	if l.geo != nil {
		return l.geo.Close()
	}
	return nil
}
