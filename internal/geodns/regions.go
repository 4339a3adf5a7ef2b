package geodns

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// regions ranks the configured regions for a client's location.
type regions struct {
	list        []Region
	byName      map[string]int
	byCountry   map[string]int
	byContinent map[string]int
	// spill[i] is region i, then the regions to try when it has no
	// healthy load balancer: its Prefer list, then by distance.
	spill [][]int
}

func newRegions(list []Region) *regions {
	rs := &regions{list: list, byName: map[string]int{}, byCountry: map[string]int{}, byContinent: map[string]int{}}
	for i, r := range list {
		rs.byName[r.Name] = i
		for _, c := range r.Countries {
			rs.byCountry[strings.ToUpper(c)] = i
		}
		for _, c := range r.Continents {
			rs.byContinent[strings.ToUpper(c)] = i
		}
	}
	for i := range list {
		rs.spill = append(rs.spill, rs.spillOrder(i))
	}
	return rs
}

func (rs *regions) spillOrder(i int) []int {
	order := []int{i}
	seen := map[int]bool{i: true}
	for _, name := range rs.list[i].Prefer {
		if j, ok := rs.byName[name]; ok && !seen[j] {
			order, seen[j] = append(order, j), true
		}
	}
	var rest []int
	for j := range rs.list {
		if !seen[j] {
			rest = append(rest, j)
		}
	}
	from := rs.list[i]
	slices.SortStableFunc(rest, func(a, b int) int {
		return cmp.Compare(distance(from.Latitude, from.Longitude, rs.list[a].Latitude, rs.list[a].Longitude),
			distance(from.Latitude, from.Longitude, rs.list[b].Latitude, rs.list[b].Longitude))
	})
	return append(order, rest...)
}

// pick is the region to answer for loc: the nearest one for which
// healthy says yes. With none healthy it fails open, to the region it
// would pick if all were (ok false): a DNS server that stops answering
// takes the zone down for good, while a load balancer that only looks
// down to us may still serve (Route 53 and PowerDNS's ifportup do the
// same).
func (rs *regions) pick(loc Location, healthy func(int) bool) (int, bool) {
	if i, ok := rs.home(loc); ok {
		return firstHealthy(rs.spill[i], healthy)
	}
	if loc.HasCoords {
		best, bestAny := -1, -1
		bestD, bestAnyD := math.Inf(1), math.Inf(1)
		for i, r := range rs.list {
			d := distance(loc.Lat, loc.Lon, r.Latitude, r.Longitude)
			if d < bestAnyD {
				bestAny, bestAnyD = i, d
			}
			if d < bestD && healthy(i) {
				best, bestD = i, d
			}
		}
		if best >= 0 {
			return best, true
		}
		return bestAny, false
	}
	if i, ok := rs.byContinent[loc.Continent]; ok && loc.Continent != "" {
		return firstHealthy(rs.spill[i], healthy)
	}
	return firstHealthy(rs.spill[0], healthy)
}

// home is the region the location names outright: by the table, or by
// a country a region lists.
func (rs *regions) home(loc Location) (int, bool) {
	if loc.Region != "" {
		if i, ok := rs.byName[loc.Region]; ok {
			return i, true
		}
	}
	if loc.Country != "" {
		if i, ok := rs.byCountry[loc.Country]; ok {
			return i, true
		}
	}
	return 0, false
}

func firstHealthy(order []int, healthy func(int) bool) (int, bool) {
	for _, i := range order {
		if healthy(i) {
			return i, true
		}
	}
	return order[0], false
}

// distance is the great-circle distance in km (haversine).
func distance(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dLat, dLon := (lat2-lat1)*rad, (lon2-lon1)*rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
