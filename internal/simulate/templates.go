package simulate

// optionSet is a product's variant option, e.g. Size: Small, Medium, Large.
// priceFactors[i] scales the base price for values[i].
type optionSet struct {
	name         string
	values       []string
	priceFactors []float64
}

var (
	sizes       = &optionSet{"Size", []string{"Small", "Medium", "Large"}, []float64{1, 1.15, 1.3}}
	milks       = &optionSet{"Milk", []string{"Whole", "Oat", "Soy", "Lactose-free"}, []float64{1, 1.1, 1.1, 1.05}}
	servings    = &optionSet{"Serving", []string{"Glass", "Carafe", "Bottle"}, []float64{1, 2.6, 4.5}}
	measures    = &optionSet{"Measure", []string{"Single", "Double"}, []float64{1, 1.8}}
	shirtSizes  = &optionSet{"Size", []string{"S", "M", "L", "XL"}, []float64{1, 1, 1, 1.1}}
	colours     = &optionSet{"Colour", []string{"Black", "White", "Grön", "Bleu ciel"}, []float64{1, 1, 1, 1}}
	watchSizes  = &optionSet{"Size", []string{"35mm", "40mm", "50mm"}, []float64{1, 1, 1.2}}
	bouquets    = &optionSet{"Size", []string{"Petite", "Grande", "Deluxe"}, []float64{1, 1.6, 2.4}}
	whiskySizes = &optionSet{"Size", []string{"25 cl", "50 cl", "70 cl"}, []float64{1, 1.9, 2.6}}
)

// productTemplate is one kind of product a shop may sell.
type productTemplate struct {
	name      string
	category  string
	basePence int64
	vat       vatClass
	options   *optionSet
	service   bool // services have no stock
}

// templates are the products shops pick their catalogues from: everyday
// names, non-ASCII names and names with <, & and double quotes.
var templates = []productTemplate{
	{"Kaffe Örebro", "Drinks", 320, vatReduced, sizes, false},
	{"Flat white", "Drinks", 340, vatReduced, milks, false},
	{"Café crème", "Drinks", 300, vatReduced, nil, false},
	{"Tea <Earl Grey>", "Drinks", 250, vatReduced, sizes, false},
	{`Builder's "Brew"`, "Drinks", 220, vatReduced, nil, false},
	{"Hot chocolate & marshmallows", "Drinks", 380, vatReduced, sizes, false},
	{"Chai latte", "Drinks", 360, vatReduced, milks, false},
	{"Smoothie <Berry Blast>", "Drinks", 450, vatReduced, sizes, false},
	{"Crème brûlée", "Desserts", 650, vatReduced, nil, false},
	{"Käsekuchen", "Desserts", 420, vatReduced, nil, false},
	{"Tarte Tatin", "Desserts", 550, vatReduced, nil, false},
	{"Prinsesstårta", "Desserts", 480, vatReduced, nil, false},
	{"Churros con chocolate", "Desserts", 520, vatReduced, nil, false},
	{"Rødgrød med fløde", "Desserts", 490, vatReduced, nil, false},
	{"Kanelbulle", "Bakery", 350, vatReduced, nil, false},
	{"Croissant au beurre", "Bakery", 280, vatReduced, nil, false},
	{"Pain au chocolat", "Bakery", 300, vatReduced, nil, false},
	{"Brezel", "Bakery", 250, vatReduced, nil, false},
	{"Stroopwafel", "Bakery", 150, vatReduced, nil, false},
	{"Lefse", "Bakery", 320, vatReduced, nil, false},
	{`Bagel "Everything"`, "Bakery", 290, vatReduced, nil, false},
	{"Smørbrød", "Food", 895, vatReduced, nil, false},
	{"Fish & Chips", "Food", 1250, vatReduced, nil, false},
	{"Kids <12 menu", "Food", 650, vatReduced, nil, false},
	{"Salmon bagel & cream cheese", "Food", 795, vatReduced, nil, false},
	{"Köttbullar & mos", "Food", 1190, vatReduced, nil, false},
	{"Frikadeller", "Food", 990, vatReduced, nil, false},
	{"Bitterballen (8 st.)", "Food", 690, vatReduced, nil, false},
	{"Jamón ibérico 100 g", "Deli", 1450, vatReduced, nil, false},
	{"Brunost", "Deli", 690, vatReduced, nil, false},
	{"Olive oil 500 ml", "Deli", 899, vatReduced, nil, false},
	{"Honey – wildflower", "Deli", 650, vatReduced, nil, false},
	{"Chocolate bar 70%", "Deli", 299, vatReduced, nil, false},
	{"Äpple", "Fruit", 60, vatZero, nil, false},
	{"Bananas & kiwis (bag)", "Fruit", 180, vatZero, nil, false},
	{"Gin & Tonic", "Bar", 950, vatStandard, measures, false},
	{"Whiskey", "Bar", 3290, vatStandard, whiskySizes, false},
	{`Rosé "Provence"`, "Bar", 700, vatStandard, servings, false},
	{"Pilsner 0,5 l", "Bar", 550, vatStandard, nil, false},
	{"Tote bag \"Large\"", "Merch", 1200, vatStandard, colours, false},
	{"T-shirt <Logo>", "Merch", 1800, vatStandard, shirtSizes, false},
	{"Apple watch", "Gadgets", 100000, vatStandard, watchSizes, false},
	{"Phone case", "Gadgets", 1500, vatStandard, colours, false},
	{"USB-C cable 1 m", "Gadgets", 990, vatStandard, nil, false},
	{"Notebook A5", "Stationery", 450, vatZero, nil, false},
	{"Postcard \"Greetings from Malmö\"", "Stationery", 150, vatStandard, nil, false},
	{"Vinyl LP – Sigur Rós", "Music", 2499, vatStandard, nil, false},
	{"Candle \"Hygge\"", "Home", 1450, vatStandard, colours, false},
	{"Ceramic mug 300 ml", "Home", 1100, vatStandard, colours, false},
	{"Flowers – bouquet", "Flowers", 2000, vatStandard, bouquets, false},
	{"Haircut", "Services", 2500, vatStandard, nil, true},
	{"Beard trim", "Services", 1200, vatStandard, nil, true},
	{"Bike repair < 30 min", "Services", 3500, vatStandard, nil, true},
	{"Gift card & wrapping", "Gift cards", 2500, vatZero, nil, true},
}

// categoryNames lists every template category once, in template order.
func categoryNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, t := range templates {
		if !seen[t.category] {
			seen[t.category] = true
			names = append(names, t.category)
		}
	}
	return names
}
