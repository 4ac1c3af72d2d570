// Package apidata makes JSON API responses for the tests and benchmarks of compression: pages
// of orders as a web shop's API returns them, with field names that repeat from record to
// record and values that vary (names, cities, products, prices, timestamps, random ids, free
// text), so that a compressor finds what it would find in a real response, neither random bytes
// nor one string repeated.
package apidata

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Response returns a JSON API response of size bytes, or a few more where no record fits the
// rest exactly: an object with a page of orders under "data" and the page's "meta". The last
// record's note and lines are cut to fit. The same size and seed give the same bytes.
func Response(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(size)))
	cursor := id(r, 12)
	meta := func(n int) []byte {
		return marshal(map[string]any{
			"page": 1, "perPage": n, "total": 4000 + n,
			"next": fmt.Sprintf("/v2/orders?cursor=%s&limit=%d", cursor, n),
		})
	}
	// room is what the data's records may take in all when there are n of them.
	room := func(n int) int {
		return size - len(`{"data":[],"meta":}`) - len(meta(n)) - (n - 1)
	}
	var orders []order
	var recs [][]byte
	used := 0
	for {
		o := newOrder(r)
		left := room(len(recs)+1) - used
		if rec := marshal(o); len(rec) < left {
			orders, recs, used = append(orders, o), append(recs, rec), used+len(rec)
			continue
		}
		if rec := fit(o, left); len(rec) <= left || len(recs) == 0 {
			recs = append(recs, rec)
			break
		}
		// No cut of this record fits what is left: the record before takes it instead.
		last := len(recs) - 1
		recs[last] = fit(orders[last], room(len(recs))-used+len(recs[last]))
		break
	}
	out := append([]byte(`{"data":[`), bytes.Join(recs, []byte(","))...)
	out = append(out, `],"meta":`...)
	out = append(out, meta(len(recs))...)
	return append(out, '}')
}

// fit returns o as JSON in room bytes if it can be: with fewer lines, and a note that fills
// what is left; as short as it can be made otherwise.
func fit(o order, room int) []byte {
	o.Note = ""
	for len(o.Lines) > 1 && len(marshal(o)) > room {
		o.Lines = o.Lines[:len(o.Lines)-1]
	}
	rec := marshal(o)
	gap := room - len(rec) - len(`,"note":""`)
	if gap <= 0 {
		return rec
	}
	var note strings.Builder
	for i := 0; note.Len() < gap; i++ {
		if i > 0 {
			note.WriteByte(' ')
		}
		note.WriteString(words[(i*7+len(rec))%len(words)])
	}
	o.Note = note.String()[:gap]
	return marshal(o)
}

// marshal is json.Marshal without the escapes of <, > and & for HTML, as most APIs write JSON.
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // plain fields and maps of them always marshal
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

type order struct {
	ID        string    `json:"id"`
	Number    int       `json:"number"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Customer  customer  `json:"customer"`
	Lines     []line    `json:"lines"`
	Subtotal  float64   `json:"subtotal"`
	Shipping  float64   `json:"shipping"`
	Tax       float64   `json:"tax"`
	Total     float64   `json:"total"`
	Currency  string    `json:"currency"`
	Address   address   `json:"shippingAddress"`
	Tags      []string  `json:"tags"`
	Note      string    `json:"note,omitempty"`
	Gift      bool      `json:"gift"`
}

type customer struct {
	ID       int    `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	Tier     string `json:"tier"`
	Verified bool   `json:"verified"`
}

type line struct {
	SKU       string  `json:"sku"`
	Name      string  `json:"name"`
	Quantity  int     `json:"quantity"`
	UnitPrice float64 `json:"unitPrice"`
	Discount  float64 `json:"discount,omitempty"`
}

type address struct {
	Line1      string `json:"line1"`
	City       string `json:"city"`
	Postcode   string `json:"postcode"`
	Country    string `json:"country"`
	Phone      string `json:"phone,omitempty"`
	DeliveryBy string `json:"deliveryBy"`
}

var (
	firstNames = strings.Fields("Ana Bruno Chen Dana Emeka Fatima Giulia Hiro Ines Jonas Kavya Liam Mei Noah Olga Pedro Quinn Rosa Sven Tariq Uma Viktor Wen Xavier Yara Zoe Amir Beatriz Carlos Dmitri Elif Farah Gustav Hana Ivan Julia Kenji Lucia Marta Nils")
	lastNames  = strings.Fields("Souza Rossi Wang Cohen Okafor Haddad Bianchi Tanaka Garcia Weber Iyer Murphy Li Schmidt Petrova Alves Kowalski Moreau Larsen Nasser Patel Novak Zhang Dubois Silva Fischer Andersen Yilmaz Costa Ivanov Kaya Rahman Berg Sato Popov Santos Mori Lopez Nowak Meyer")
	cities     = [][3]string{{"Lyon", "FR", "69002"}, {"Porto", "PT", "4050-123"}, {"Munich", "DE", "80331"}, {"Osaka", "JP", "530-0001"}, {"Austin", "US", "78701"}, {"Leeds", "GB", "LS1 4AP"}, {"Turin", "IT", "10121"}, {"Gdansk", "PL", "80-001"}, {"Aarhus", "DK", "8000"}, {"Toronto", "CA", "M5H 2N2"}, {"Ghent", "BE", "9000"}, {"Bilbao", "ES", "48001"}, {"Malmo", "SE", "211 19"}, {"Brno", "CZ", "602 00"}, {"Pune", "IN", "411001"}, {"Perth", "AU", "6000"}, {"Denver", "US", "80202"}, {"Zurich", "CH", "8001"}, {"Utrecht", "NL", "3511"}, {"Cork", "IE", "T12"}}
	streets    = strings.Fields("Main Oak Station Mill Church High Park River Market Harbour Cedar Garden Bridge Castle Union")
	adjectives = strings.Fields("Wireless Ergonomic Organic Compact Vintage Waterproof Insulated Foldable Smart Stainless Bamboo Merino Recycled Portable Ceramic Leather Cordless Adjustable Linen Titanium")
	nouns      = strings.Fields("Mouse Keyboard Backpack Kettle Lamp Headphones Bottle Jacket Notebook Speaker Blender Chair Tent Wallet Mug Charger Blanket Sneakers Grinder Monitor")
	statuses   = strings.Fields("pending paid packed shipped delivered cancelled refunded")
	tiers      = strings.Fields("basic silver gold platinum")
	currencies = strings.Fields("EUR USD GBP JPY CAD")
	tags       = strings.Fields("gift express fragile first-order wholesale subscription preorder bundle clearance priority returning")
	domains    = strings.Fields("example.com mail.test inbox.example shop.test post.example")
	words      = strings.Fields("please leave the parcel at door with neighbour ring bell twice call before delivery if nobody home back entrance side gate reception desk office hours weekdays only after noon morning is best thanks for the quick service wrap as a gift no invoice in box include receipt second floor code for building is on the note")
)

var epoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func newOrder(r *rand.Rand) order {
	first, last := pick(r, firstNames), pick(r, lastNames)
	city := cities[r.IntN(len(cities))]
	created := epoch.Add(time.Duration(r.Int64N(int64(60 * 24 * time.Hour)))).Truncate(time.Second)
	o := order{
		ID:        "ord_" + id(r, 16),
		Number:    100000 + r.IntN(900000),
		Status:    pick(r, statuses),
		CreatedAt: created,
		UpdatedAt: created.Add(time.Duration(r.Int64N(int64(72 * time.Hour)))).Truncate(time.Second),
		Customer: customer{
			ID:       1000 + r.IntN(90000),
			Name:     first + " " + last,
			Email:    strings.ToLower(first+"."+last) + fmt.Sprint(r.IntN(100)) + "@" + pick(r, domains),
			Tier:     pick(r, tiers),
			Verified: r.IntN(4) > 0,
		},
		Currency: pick(r, currencies),
		Address: address{
			Line1:      fmt.Sprintf("%d %s Street", 1+r.IntN(240), pick(r, streets)),
			City:       city[0],
			Country:    city[1],
			Postcode:   city[2],
			DeliveryBy: created.Add(time.Duration(2+r.IntN(6)) * 24 * time.Hour).Format(time.DateOnly),
		},
		Gift: r.IntN(8) == 0,
	}
	if r.IntN(3) == 0 {
		o.Address.Phone = fmt.Sprintf("+%d %03d %04d", 1+r.IntN(98), r.IntN(1000), r.IntN(10000))
	}
	for range 1 + r.IntN(4) {
		l := line{
			SKU:       fmt.Sprintf("SKU-%05d-%s", r.IntN(100000), strings.ToUpper(id(r, 2))),
			Name:      pick(r, adjectives) + " " + pick(r, nouns),
			Quantity:  1 + r.IntN(3),
			UnitPrice: cents(r, 2, 400),
		}
		if r.IntN(5) == 0 {
			l.Discount = cents(r, 1, 20)
		}
		o.Lines = append(o.Lines, l)
		o.Subtotal += float64(l.Quantity)*l.UnitPrice - l.Discount
	}
	o.Subtotal = round(o.Subtotal)
	o.Shipping = cents(r, 0, 15)
	o.Tax = round(o.Subtotal * 0.2)
	o.Total = round(o.Subtotal + o.Shipping + o.Tax)
	for range r.IntN(3) {
		o.Tags = append(o.Tags, pick(r, tags))
	}
	if o.Tags == nil {
		o.Tags = []string{}
	}
	if r.IntN(3) == 0 {
		n := 4 + r.IntN(14)
		note := make([]string, n)
		for i := range note {
			note[i] = pick(r, words)
		}
		o.Note = strings.Join(note, " ")
	}
	return o
}

func pick(r *rand.Rand, from []string) string { return from[r.IntN(len(from))] }

// id is n random bytes in hex: the part of a response no compressor can shrink below half.
func id(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return hex.EncodeToString(b)
}

func cents(r *rand.Rand, lo, hi int) float64 {
	return round(float64(lo) + r.Float64()*float64(hi-lo))
}

func round(f float64) float64 { return float64(int64(f*100+0.5)) / 100 }
