package simulate

// locale is what a shop's country decides: currency, tax rates, price
// levels, language, and the local names the generators draw from.
type locale struct {
	country, currency, language, timeZone string
	taxationType, taxationMode            string
	// rates are the standard, reduced and zero tax rates in percent.
	rates [3]float64
	// priceFactor converts a price in pence to this currency's minor units.
	priceFactor float64
	// priceStep rounds prices (minor units); cashStep is the note customers
	// typically hand over.
	priceStep, cashStep int64
	// mobilePayment is the local wallet's payment type, or "".
	mobilePayment string
	phonePrefix   string
	webSuffix     string
	cities        []city
	people        []string
	shopNames     []string
	streets       []string
	openingHours  []string
}

type city struct {
	name, zip string
	lat, lon  float64
}

// vatClass selects one of a locale's three rates.
type vatClass int

const (
	vatStandard vatClass = iota
	vatReduced
	vatZero
)

var locales = []locale{
	{
		country: "GB", currency: "GBP", language: "en", timeZone: "Europe/London",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{20, 5, 0},
		priceFactor: 1, priceStep: 5, cashStep: 500, phonePrefix: "+44 20 ", webSuffix: ".co.uk",
		cities: []city{
			{"London", "WC2H 7HA", 51.5072, -0.1276},
			{"Edinburgh", "EH1 1YZ", 55.9533, -3.1883},
			{"Manchester", "M1 1AE", 53.4808, -2.2426},
		},
		people:       []string{"John Smith", "Emily Carter", "Zoë O'Neill", "Priya Patel"},
		shopNames:    []string{"The Corner Café", "Fish & Chips <Deluxe>", "Tea & Crumpets Ltd", "Smith's \"Famous\" Bakery"},
		streets:      []string{"20 Whitcomb St", "32 Mango Chutney Street", "1 Rose Street", "5 Market Place"},
		openingHours: []string{"Open Mon–Fri 7–18 & Sat 9–16.\n", "Opening hours, Instagram account, other information as applicable.\n"},
	},
	{
		country: "SE", currency: "SEK", language: "sv", timeZone: "Europe/Stockholm",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{25, 12, 6},
		priceFactor: 13, priceStep: 500, cashStep: 10000, mobilePayment: "SWISH", phonePrefix: "+46 19 ", webSuffix: ".se",
		cities: []city{
			{"Örebro", "702 10", 59.2741, 15.2066},
			{"Stockholm", "111 29", 59.3293, 18.0686},
			{"Malmö", "211 22", 55.6050, 13.0038},
		},
		people:       []string{"Åsa Lindqvist", "Björn Ekström", "Märta Öberg", "Jöns Nyström"},
		shopNames:    []string{"Kafé Ängel", "Bageri Solros & Söner", "Fiket \"Lilla Hörnan\"", "Örebro Rosteri AB"},
		streets:      []string{"Drottninggatan 5", "Storgatan 12", "Östra Långgatan 3", "Järntorget 8"},
		openingHours: []string{"Öppet mån–fre 7–18, lör 9–15.\n", "Välkommen! Följ oss på Instagram @kafeangel\n"},
	},
	{
		country: "DE", currency: "EUR", language: "de", timeZone: "Europe/Berlin",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{19, 7, 0},
		priceFactor: 1.15, priceStep: 10, cashStep: 500, phonePrefix: "+49 30 ", webSuffix: ".de",
		cities: []city{
			{"Berlin", "10115", 52.5200, 13.4050},
			{"München", "80331", 48.1351, 11.5820},
			{"Köln", "50667", 50.9375, 6.9603},
		},
		people:       []string{"Jürgen Müller", "Zoë Schäfer", "Lena Weiß", "Björn Groß"},
		shopNames:    []string{"Bäckerei Müller & Söhne", "Café Größenwahn", "Kiosk <Süd>"},
		streets:      []string{"Hauptstraße 7", "Königsallee 21", "Schloßstraße 3"},
		openingHours: []string{"Öffnungszeiten: Mo–Sa 7–19 Uhr\n"},
	},
	{
		country: "FR", currency: "EUR", language: "fr", timeZone: "Europe/Paris",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{20, 10, 5.5},
		priceFactor: 1.15, priceStep: 10, cashStep: 500, phonePrefix: "+33 1 ", webSuffix: ".fr",
		cities: []city{
			{"Paris", "75004", 48.8566, 2.3522},
			{"Lyon", "69002", 45.7640, 4.8357},
		},
		people:       []string{"Chloé Durand", "Amélie Lefèvre", "François Petit"},
		shopNames:    []string{"Pâtisserie Crème & Chocolat", "Le Petit Café \"Chez Léa\"", "Boulangerie Noël"},
		streets:      []string{"12 rue de Rivoli", "3 place Bellecour", "8 rue Saint-Honoré"},
		openingHours: []string{"Ouvert du mardi au dimanche, 7h–19h.\n"},
	},
	{
		country: "NL", currency: "EUR", language: "nl", timeZone: "Europe/Amsterdam",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{21, 9, 0},
		priceFactor: 1.15, priceStep: 10, cashStep: 500, phonePrefix: "+31 20 ", webSuffix: ".nl",
		cities: []city{
			{"Amsterdam", "1012 JS", 52.3676, 4.9041},
			{"Utrecht", "3511 AB", 52.0907, 5.1214},
		},
		people:       []string{"Daan de Vries", "Eline Jansen", "Sanne Bakker"},
		shopNames:    []string{"Koffiehuis De Tulp", "Stroopwafel & Co", "Bakkerij 't Hoekje"},
		streets:      []string{"Damrak 70", "Oudegracht 141"},
		openingHours: []string{"Dagelijks geopend 8–18 uur.\n"},
	},
	{
		country: "ES", currency: "EUR", language: "es", timeZone: "Europe/Madrid",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{21, 10, 4},
		priceFactor: 1.15, priceStep: 10, cashStep: 500, phonePrefix: "+34 91 ", webSuffix: ".es",
		cities: []city{
			{"Madrid", "28013", 40.4168, -3.7038},
			{"Sevilla", "41004", 37.3891, -5.9845},
		},
		people:       []string{"José Martínez", "Lucía Fernández", "Íñigo Muñoz"},
		shopNames:    []string{"Churrería La Única", "Bar España & Olé", "Panadería Señor Pan"},
		streets:      []string{"Calle Mayor 5", "Avenida de la Constitución 20"},
		openingHours: []string{"Abierto de lunes a sábado, 8:00–20:00.\n"},
	},
	{
		country: "NO", currency: "NOK", language: "nb", timeZone: "Europe/Oslo",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{25, 15, 12},
		priceFactor: 13.5, priceStep: 500, cashStep: 10000, mobilePayment: "VIPPS", phonePrefix: "+47 22 ", webSuffix: ".no",
		cities: []city{
			{"Oslo", "0150", 59.9139, 10.7522},
			{"Bergen", "5003", 60.3913, 5.3221},
			{"Tromsø", "9008", 69.6492, 18.9553},
		},
		people:       []string{"Ingrid Haugen", "Øystein Dahl", "Sølvi Bråten"},
		shopNames:    []string{"Bakeriet på Hjørnet", "Kaffebrenneriet Ærlig", "Smørbrødbaren"},
		streets:      []string{"Karl Johans gate 1", "Bryggen 15", "Storgata 40"},
		openingHours: []string{"Åpent man–lør 7–17.\n"},
	},
	{
		country: "DK", currency: "DKK", language: "da", timeZone: "Europe/Copenhagen",
		taxationType: "VAT", taxationMode: "INCLUSIVE", rates: [3]float64{25, 25, 0},
		priceFactor: 8.7, priceStep: 250, cashStep: 5000, mobilePayment: "MOBILE_PAY", phonePrefix: "+45 33 ", webSuffix: ".dk",
		cities: []city{
			{"København", "1050", 55.6761, 12.5683},
			{"Aarhus", "8000", 56.1629, 10.2039},
		},
		people:       []string{"Mette Sørensen", "Søren Kjær", "Åse Nørgaard"},
		shopNames:    []string{"Smørrebrød & Øl", "Café Ønskebrønd", "Bageriet \"Kringlen\""},
		streets:      []string{"Strøget 12", "Nørregade 7"},
		openingHours: []string{"Åbent hverdage 7–18, lørdag 8–14.\n"},
	},
	{
		country: "US", currency: "USD", language: "en", timeZone: "America/New_York",
		taxationType: "SALES_TAX", taxationMode: "EXCLUSIVE", rates: [3]float64{8.875, 8.875, 0},
		priceFactor: 1.27, priceStep: 25, cashStep: 100, phonePrefix: "+1 212 ", webSuffix: ".com",
		cities: []city{
			{"New York", "10001", 40.7128, -74.0060},
			{"Brooklyn", "11201", 40.6782, -73.9442},
		},
		people:       []string{"Emily Johnson", "Carlos Ramírez", "Renée Walker"},
		shopNames:    []string{"Joe's Diner & Grill", "Bagels <NYC>", "The \"Original\" Pretzel Co"},
		streets:      []string{"350 5th Ave", "12 Bedford Ave"},
		openingHours: []string{"Open daily 6am–10pm.\n"},
	},
}
