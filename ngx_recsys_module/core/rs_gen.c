
/*
 * ngx_recsys: synthetic product catalog generator.
 *
 * Everything is integer arithmetic on purpose: libm and FMA contraction
 * differ between platforms, and a benchmark catalog must be byte-for-byte
 * reproducible from its seed.
 */


#include <string.h>

#include "rs_gen.h"


/* room for several lines per write() call; a line never exceeds LINE_MAX */
#define RS_GEN_BUF_SIZE      32768
#define RS_GEN_LINE_MAX      4096

#define RS_GEN_MAX_TAGS      4
#define RS_GEN_MAX_SHUFFLE   16
#define RS_GEN_MAX_SENTENCES 3

/* 2% geometric price grid, Q16 */
#define RS_GEN_PRICE_STEP    66847

#define RS_GEN_WINDOW        (3 * 365 * 86400)


typedef struct {
    const char *const   *v;
    size_t               n;
} rs_gen_list_t;


#define rs_gen_list(a)       { (a), sizeof(a) / sizeof((a)[0]) }
#define rs_gen_no_list       { NULL, 0 }
#define rs_gen_no_attr       { NULL, 0, rs_gen_no_list }


typedef struct {
    const char          *name;
    int                  number;         /* value is emitted unquoted */
    rs_gen_list_t        values;
} rs_gen_attr_t;


/*
 * Title formats: %b brand, %m model, %d model number, %a adjective,
 * %n noun, %v variant.  Sentences: %b brand, %a adjective and %n noun
 * (both lowercased), %M material, %U use, %F feature; every %M, %U or
 * %F takes the next entry of its bank, so a description never repeats.
 */

typedef struct {
    const char          *path;
    const char          *title;
    unsigned             weight;
    uint32_t             price_min;      /* cents */
    uint32_t             price_max;
    unsigned             margin_min;     /* percent */
    unsigned             margin_max;
    rs_gen_list_t        adjectives;
    rs_gen_list_t        nouns;
    rs_gen_list_t        materials;
    rs_gen_list_t        uses;
    rs_gen_list_t        features;
    rs_gen_list_t        tags;
    rs_gen_list_t        brands;
    rs_gen_list_t        models;
    rs_gen_list_t        variants;
    rs_gen_list_t        sentences;      /* empty: rs_gen_sentences */
    rs_gen_attr_t        attrs[2];
} rs_gen_category_t;


typedef struct {
    uint64_t             s[4];
} rs_gen_rng_t;


typedef struct {
    char                *pos;
    char                *end;
    rs_gen_write_pt      write;
    void                *data;
    int                  overflow;
    char                 buf[RS_GEN_BUF_SIZE];
} rs_gen_out_t;


typedef struct {
    const rs_gen_category_t  *cat;
    const char               *brand;
    const char               *model;
    const char               *adjective;
    const char               *noun;
    const char               *variant;
    unsigned                  number;
    size_t                    material;  /* bank cursors */
    size_t                    use;
    size_t                    feature;
} rs_gen_item_t;


/* phrase banks shared by several categories */

static const char *const  rs_gen_colors[] = {
    "Black", "White", "Navy", "Gray", "Red", "Blue", "Green", "Olive",
    "Charcoal", "Coral", "Teal", "Sand", "Burgundy", "Sky Blue"
};

static const char *const  rs_gen_apparel_sizes[] = {
    "XS", "S", "M", "L", "XL", "XXL"
};

static const char *const  rs_gen_shoe_sizes[] = {
    "6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11",
    "11.5", "12", "13"
};

static const char *const  rs_gen_sock_sizes[] = {
    "S", "M", "L", "XL"
};

static const char *const  rs_gen_gender[] = {
    "Men's", "Women's"
};

static const char *const  rs_gen_gender_unisex[] = {
    "Men's", "Women's", "Unisex"
};

static const char *const  rs_gen_age_min[] = {
    "3", "4", "6", "8", "10", "12"
};

static const char *const  rs_gen_pages[] = {
    "192", "224", "256", "288", "320", "352", "416", "512"
};

static const char *const  rs_gen_publishers[] = {
    "Harbor Lane Press", "Quillfeather Books", "Northlight Publishing",
    "Juniper House", "Kestrel & Finch"
};

static const char *const  rs_gen_book_formats[] = {
    "Paperback", "Hardcover", "Large Print", "Paperback"
};


/*
 * The default sentences avoid verbs after %n: nouns come singular
 * ("Laptop") and plural ("Running Shoes"), so no agreement is needed.
 */

static const char *const  rs_gen_sentences[] = {
    "Made from %M for %U.",
    "Features %F and %F.",
    "Choose the %b %n for %U.",
    "Built with %F and %M.",
    "A reliable choice for %U, with %F.",
    "Expect %F from this %a design.",
    "Pairs %M with %F for %U."
};


/* Shoes */

static const char *const  rs_gen_run_brands[] = {
    "Stridewell", "Aerorun", "Velocita", "Kinetix", "Northpeak",
    "Pacer & Co", "Brooks", "Tempo Labs"
};

static const char *const  rs_gen_run_models[] = {
    "Ghost", "Glide", "Pulse", "Tempo", "Nimbus", "Drift", "Surge",
    "Horizon", "Vapor", "Cadence", "Swift", "Arc"
};

static const char *const  rs_gen_run_adjectives[] = {
    "Cushioned", "Lightweight", "Responsive", "Breathable", "Stability",
    "Neutral", "Carbon-Plated", "Everyday", "Racing"
};

/* repeated on purpose: "running shoes" is the demo query */
static const char *const  rs_gen_run_nouns[] = {
    "Running Shoes", "Running Shoes", "Running Shoes", "Road Running Shoes",
    "Running Sneakers", "Marathon Running Shoes"
};

static const char *const  rs_gen_run_materials[] = {
    "engineered mesh", "recycled knit", "breathable mesh",
    "a nitrogen-infused foam midsole", "a durable rubber outsole",
    "a seamless knit upper"
};

static const char *const  rs_gen_run_uses[] = {
    "daily training runs", "long-distance running", "race day",
    "tempo workouts", "easy recovery runs", "marathon training",
    "treadmill sessions"
};

static const char *const  rs_gen_run_features[] = {
    "a plush foam midsole", "a padded heel collar", "reflective details",
    "a rocker geometry", "a 10 mm heel-to-toe drop",
    "responsive cushioning", "a secure lace-up fit",
    "a grippy rubber outsole"
};

static const char *const  rs_gen_run_tags[] = {
    "cushioned", "lightweight", "breathable", "neutral", "stability",
    "road", "vegan", "reflective", "wide-fit"
};

static const char *const  rs_gen_trail_brands[] = {
    "Northpeak", "Ridgeline", "Kinetix", "Talus", "Stridewell"
};

static const char *const  rs_gen_trail_models[] = {
    "Summit", "Scree", "Ridge", "Switchback", "Canyon", "Alpine", "Boulder"
};

static const char *const  rs_gen_trail_adjectives[] = {
    "Waterproof", "Rugged", "Grippy", "Lightweight", "All-Terrain"
};

static const char *const  rs_gen_trail_nouns[] = {
    "Trail Running Shoes", "Trail Runners", "Trail Shoes"
};

static const char *const  rs_gen_trail_materials[] = {
    "a waterproof membrane", "ripstop mesh", "a rock plate",
    "abrasion-resistant overlays"
};

static const char *const  rs_gen_trail_uses[] = {
    "technical trails", "muddy singletrack", "ultra distances",
    "mountain runs", "fast hiking"
};

static const char *const  rs_gen_trail_features[] = {
    "5 mm lugs", "a protective toe cap", "a gusseted tongue",
    "sticky rubber traction", "a cushioned midsole"
};

static const char *const  rs_gen_trail_tags[] = {
    "waterproof", "trail", "grippy", "lightweight", "cushioned",
    "gore-tex"
};

static const char *const  rs_gen_boot_brands[] = {
    "Ridgeline", "Talus", "Alder & Oak", "Northpeak", "Highmark"
};

static const char *const  rs_gen_boot_models[] = {
    "Trekker", "Cascade", "Granite", "Pathfinder", "Timberline"
};

static const char *const  rs_gen_boot_adjectives[] = {
    "Waterproof", "Mid-Cut", "Leather", "Insulated", "Lightweight"
};

static const char *const  rs_gen_boot_nouns[] = {
    "Hiking Boots", "Trekking Boots", "Backpacking Boots"
};

static const char *const  rs_gen_boot_materials[] = {
    "full-grain leather", "nubuck leather", "a waterproof membrane",
    "a lugged rubber sole"
};

static const char *const  rs_gen_boot_uses[] = {
    "day hikes", "multi-day treks", "rocky terrain", "winter hiking",
    "backpacking trips"
};

static const char *const  rs_gen_boot_features[] = {
    "ankle support", "a cushioned footbed", "a lugged outsole",
    "speed-lace hooks", "a gusseted tongue"
};

static const char *const  rs_gen_boot_tags[] = {
    "waterproof", "leather", "insulated", "ankle-support", "hiking",
    "durable"
};

static const char *const  rs_gen_sneaker_brands[] = {
    "Urbano", "Kicks & Co", "Lowtide", "Canvas Row", "Stridewell"
};

static const char *const  rs_gen_sneaker_models[] = {
    "Court", "Classic", "Street", "Metro", "Heritage", "Loop"
};

static const char *const  rs_gen_sneaker_adjectives[] = {
    "Low-Top", "High-Top", "Slip-On", "Retro", "Minimalist", "Canvas"
};

static const char *const  rs_gen_sneaker_nouns[] = {
    "Sneakers", "Lifestyle Sneakers", "Court Shoes"
};

static const char *const  rs_gen_sneaker_materials[] = {
    "premium leather", "organic cotton canvas", "suede", "recycled rubber"
};

static const char *const  rs_gen_sneaker_uses[] = {
    "everyday wear", "weekend outings", "city walking",
    "casual office days"
};

static const char *const  rs_gen_sneaker_features[] = {
    "a cushioned insole", "a vulcanized sole", "a padded collar",
    "contrast stitching"
};

static const char *const  rs_gen_sneaker_tags[] = {
    "casual", "leather", "vegan", "retro", "slip-on", "everyday"
};

static const char *const  rs_gen_sandal_brands[] = {
    "Lowtide", "Sunstep", "Coastal Co", "Ridgeline"
};

static const char *const  rs_gen_sandal_models[] = {
    "Wave", "Reef", "Drift", "Cove", "Bay"
};

static const char *const  rs_gen_sandal_adjectives[] = {
    "Adjustable", "Waterproof", "Cushioned", "Sport", "Leather"
};

static const char *const  rs_gen_sandal_nouns[] = {
    "Sandals", "Slides", "Flip-Flops", "Sport Sandals"
};

static const char *const  rs_gen_sandal_materials[] = {
    "quick-dry webbing", "molded EVA foam", "vegan leather",
    "recycled rubber"
};

static const char *const  rs_gen_sandal_uses[] = {
    "beach days", "river crossings", "summer travel", "poolside lounging"
};

static const char *const  rs_gen_sandal_features[] = {
    "adjustable straps", "a contoured footbed", "arch support",
    "a non-slip sole"
};

static const char *const  rs_gen_sandal_tags[] = {
    "waterproof", "summer", "vegan", "adjustable", "beach"
};


/* Electronics */

static const char *const  rs_gen_laptop_brands[] = {
    "Corvex", "Lumina", "Tessera", "Nimbus Computing", "Voltaic",
    "Apex Systems"
};

static const char *const  rs_gen_laptop_models[] = {
    "AeroBook", "ProBook", "Zen", "Vertex", "Slate", "Forge", "Nova"
};

static const char *const  rs_gen_laptop_adjectives[] = {
    "Ultra-Thin", "Gaming", "Business", "2-in-1", "Lightweight", "Creator"
};

static const char *const  rs_gen_laptop_nouns[] = {
    "Laptop", "Laptop", "Notebook", "Ultrabook"
};

/* the inch mark exercises JSON escaping in titles */
static const char *const  rs_gen_laptop_variants[] = {
    "13\"", "14\"", "15.6\"", "16\"", "17\""
};

static const char *const  rs_gen_laptop_materials[] = {
    "an aluminum unibody chassis", "a magnesium alloy frame",
    "recycled aluminum"
};

static const char *const  rs_gen_laptop_uses[] = {
    "remote work", "video editing", "gaming", "students", "travel",
    "software development"
};

static const char *const  rs_gen_laptop_features[] = {
    "a high-refresh display", "all-day battery life",
    "a backlit keyboard", "Wi-Fi 6E", "a 1080p webcam",
    "Thunderbolt ports", "a fingerprint reader"
};

static const char *const  rs_gen_laptop_tags[] = {
    "lightweight", "gaming", "business", "touchscreen", "long-battery",
    "backlit-keyboard"
};

static const char *const  rs_gen_laptop_ram[] = {
    "8", "16", "16", "32", "64"
};

static const char *const  rs_gen_laptop_storage[] = {
    "256", "512", "512", "1024", "2048"
};

static const char *const  rs_gen_monitor_brands[] = {
    "Lumina", "Pixelon", "Tessera", "ViewCrest"
};

static const char *const  rs_gen_monitor_models[] = {
    "Vista", "Clarity", "Prism", "Edge"
};

static const char *const  rs_gen_monitor_adjectives[] = {
    "4K", "Curved", "Ultrawide", "IPS", "Gaming"
};

static const char *const  rs_gen_monitor_nouns[] = {
    "Monitor", "Display"
};

static const char *const  rs_gen_monitor_variants[] = {
    "24\"", "27\"", "32\"", "34\""
};

static const char *const  rs_gen_monitor_materials[] = {
    "a slim metal stand", "a matte anti-glare panel"
};

static const char *const  rs_gen_monitor_uses[] = {
    "home offices", "competitive gaming", "photo editing", "multitasking"
};

static const char *const  rs_gen_monitor_features[] = {
    "a 144 Hz refresh rate", "USB-C power delivery", "HDR support",
    "a height-adjustable stand", "a low blue light mode"
};

static const char *const  rs_gen_monitor_tags[] = {
    "4k", "curved", "gaming", "usb-c", "hdr", "ergonomic"
};

static const char *const  rs_gen_monitor_refresh[] = {
    "60", "75", "144", "165", "240"
};

static const char *const  rs_gen_kbd_brands[] = {
    "Keystone", "Clicktek", "Voltaic", "Tessera"
};

static const char *const  rs_gen_kbd_models[] = {
    "Typeline", "Glide", "Quill", "Swift"
};

static const char *const  rs_gen_kbd_adjectives[] = {
    "Mechanical", "Wireless", "Ergonomic", "Low-Profile", "RGB"
};

static const char *const  rs_gen_kbd_nouns[] = {
    "Keyboard", "Mouse", "Keyboard and Mouse Combo", "Trackball"
};

static const char *const  rs_gen_kbd_materials[] = {
    "PBT keycaps", "an aluminum top plate", "a textured grip"
};

static const char *const  rs_gen_kbd_uses[] = {
    "long typing sessions", "gaming", "office work", "travel"
};

static const char *const  rs_gen_kbd_features[] = {
    "hot-swappable switches", "multi-device Bluetooth",
    "a rechargeable battery", "programmable buttons"
};

static const char *const  rs_gen_kbd_tags[] = {
    "wireless", "mechanical", "ergonomic", "rgb", "bluetooth"
};

static const char *const  rs_gen_kbd_connectivity[] = {
    "Bluetooth", "USB", "2.4 GHz Wireless"
};

static const char *const  rs_gen_hp_brands[] = {
    "Sonora", "Echoline", "Aurial", "Bassline", "Halcyon Audio"
};

static const char *const  rs_gen_hp_models[] = {
    "Quiet", "Studio", "Pulse", "Aura", "Tune", "Flow"
};

static const char *const  rs_gen_hp_adjectives[] = {
    "Noise-Cancelling", "Wireless", "Over-Ear", "In-Ear", "Sport",
    "Studio"
};

static const char *const  rs_gen_hp_nouns[] = {
    "Headphones", "Headphones", "Earbuds", "Headset"
};

static const char *const  rs_gen_hp_materials[] = {
    "memory foam ear cushions", "a lightweight aluminum headband",
    "soft silicone ear tips"
};

static const char *const  rs_gen_hp_uses[] = {
    "commuting", "long flights", "workouts", "studio monitoring",
    "gaming", "working from home"
};

static const char *const  rs_gen_hp_features[] = {
    "active noise cancellation", "30-hour battery life",
    "a built-in microphone", "fast charging", "multipoint Bluetooth",
    "a transparency mode"
};

static const char *const  rs_gen_hp_tags[] = {
    "wireless", "noise-cancelling", "bluetooth", "sweatproof", "over-ear",
    "in-ear"
};

static const char *const  rs_gen_hp_battery[] = {
    "20", "24", "30", "40", "60"
};

static const char *const  rs_gen_spk_brands[] = {
    "Sonora", "Bassline", "Echoline", "Boomtide"
};

static const char *const  rs_gen_spk_models[] = {
    "Boom", "Wave", "Roam", "Pulse", "Flip"
};

static const char *const  rs_gen_spk_adjectives[] = {
    "Portable", "Waterproof", "Rugged", "Smart", "Mini"
};

static const char *const  rs_gen_spk_nouns[] = {
    "Bluetooth Speaker", "Speaker", "Party Speaker"
};

static const char *const  rs_gen_spk_materials[] = {
    "a fabric-wrapped body", "shock-absorbing silicone",
    "an aluminum grille"
};

static const char *const  rs_gen_spk_uses[] = {
    "beach trips", "backyard parties", "camping", "the shower"
};

static const char *const  rs_gen_spk_features[] = {
    "360-degree sound", "an IP67 rating", "12-hour battery life",
    "stereo pairing", "deep bass"
};

static const char *const  rs_gen_spk_tags[] = {
    "waterproof", "portable", "bluetooth", "outdoor", "bass"
};

static const char *const  rs_gen_phone_brands[] = {
    "Lumina", "Corvex", "Orbit Mobile", "Nexa"
};

static const char *const  rs_gen_phone_models[] = {
    "Nova", "Orbit", "Edge", "One", "Zeta"
};

static const char *const  rs_gen_phone_adjectives[] = {
    "Unlocked", "5G", "Dual-SIM", "Rugged"
};

static const char *const  rs_gen_phone_nouns[] = {
    "Smartphone", "Phone"
};

static const char *const  rs_gen_phone_materials[] = {
    "a toughened glass back", "an aluminum frame",
    "a recycled plastic back"
};

static const char *const  rs_gen_phone_uses[] = {
    "mobile photography", "streaming on the go", "everyday use", "travel"
};

static const char *const  rs_gen_phone_features[] = {
    "a triple-lens camera", "an OLED display", "all-day battery life",
    "fast wireless charging", "an IP68 rating"
};

static const char *const  rs_gen_phone_tags[] = {
    "5g", "unlocked", "oled", "dual-sim", "waterproof"
};

static const char *const  rs_gen_phone_storage[] = {
    "128", "256", "512"
};

static const char *const  rs_gen_watch_brands[] = {
    "Corvex", "Pulsewise", "Orbit Mobile", "Kinetix"
};

static const char *const  rs_gen_watch_models[] = {
    "Fit", "Active", "Pulse", "Sport", "Trek"
};

static const char *const  rs_gen_watch_adjectives[] = {
    "GPS", "Fitness", "Rugged", "Slim"
};

static const char *const  rs_gen_watch_nouns[] = {
    "Smartwatch", "Fitness Tracker", "Sports Watch"
};

static const char *const  rs_gen_watch_materials[] = {
    "a stainless steel case", "a silicone band", "sapphire glass"
};

static const char *const  rs_gen_watch_uses[] = {
    "tracking runs", "sleep monitoring", "swimming", "everyday wellness"
};

static const char *const  rs_gen_watch_features[] = {
    "built-in GPS", "heart rate monitoring", "7-day battery life",
    "contactless payments", "an always-on display"
};

static const char *const  rs_gen_watch_tags[] = {
    "gps", "fitness", "waterproof", "heart-rate", "sleep-tracking"
};

static const char *const  rs_gen_watch_case[] = {
    "40", "42", "44", "46"
};

static const char *const  rs_gen_tv_brands[] = {
    "Pixelon", "ViewCrest", "Lumina", "Kestrel"
};

static const char *const  rs_gen_tv_models[] = {
    "Vivid", "Cinema", "Quantum", "Aurora"
};

static const char *const  rs_gen_tv_adjectives[] = {
    "4K", "OLED", "QLED", "Smart", "8K"
};

static const char *const  rs_gen_tv_nouns[] = {
    "TV", "Smart TV", "Television"
};

static const char *const  rs_gen_tv_variants[] = {
    "43\"", "50\"", "55\"", "65\"", "75\""
};

static const char *const  rs_gen_tv_materials[] = {
    "a bezel-less metal frame", "a slim aluminum stand"
};

static const char *const  rs_gen_tv_uses[] = {
    "movie nights", "live sports", "console gaming", "streaming"
};

static const char *const  rs_gen_tv_features[] = {
    "HDR support", "a 120 Hz panel", "built-in streaming apps",
    "voice control", "low input lag"
};

static const char *const  rs_gen_tv_tags[] = {
    "4k", "hdr", "smart", "oled", "gaming"
};

static const char *const  rs_gen_tv_hdmi[] = {
    "2", "3", "4"
};

static const char *const  rs_gen_camera_brands[] = {
    "Kestrel", "Optica", "Lumina"
};

static const char *const  rs_gen_camera_models[] = {
    "Focus", "Frame", "Shutter", "Aperture"
};

static const char *const  rs_gen_camera_adjectives[] = {
    "Mirrorless", "Compact", "Full-Frame", "Action"
};

static const char *const  rs_gen_camera_nouns[] = {
    "Camera", "Digital Camera", "Camera Kit"
};

static const char *const  rs_gen_camera_materials[] = {
    "a weather-sealed magnesium body", "a textured grip"
};

static const char *const  rs_gen_camera_uses[] = {
    "travel photography", "vlogging", "wildlife photography",
    "family events"
};

static const char *const  rs_gen_camera_features[] = {
    "in-body stabilization", "4K video recording", "fast autofocus",
    "a flip-out touchscreen"
};

static const char *const  rs_gen_camera_tags[] = {
    "mirrorless", "4k", "compact", "vlogging", "weather-sealed"
};

static const char *const  rs_gen_camera_mp[] = {
    "20", "24", "33", "45", "61"
};


/* Home */

/* non-ASCII brands and phrases exercise UTF-8 pass-through */
static const char *const  rs_gen_cook_brands[] = {
    "Maison Crème", "Ironhearth", "Copperleaf", "Kitchenry", "Alder & Oak"
};

static const char *const  rs_gen_cook_adjectives[] = {
    "Nonstick", "Cast Iron", "Stainless Steel", "Tri-Ply", "Ceramic",
    "Enameled", "Carbon Steel"
};

static const char *const  rs_gen_cook_nouns[] = {
    "Frying Pan", "Skillet", "Saucepan", "Dutch Oven", "Wok", "Stockpot",
    "Saute Pan", "Cookware Set"
};

static const char *const  rs_gen_cook_variants[] = {
    "8\"", "10\"", "12\"", "5.5 Quart", "2-Piece", "10-Piece"
};

static const char *const  rs_gen_cook_materials[] = {
    "tri-ply stainless steel", "pre-seasoned cast iron",
    "a PFOA-free ceramic coating", "hard-anodized aluminum",
    "enameled cast iron"
};

static const char *const  rs_gen_cook_uses[] = {
    "searing steaks", "weeknight dinners", "slow braises", "stir-fries",
    "everyday cooking"
};

static const char *const  rs_gen_cook_features[] = {
    "even heat distribution", "stay-cool handles",
    "an oven-safe design up to 500°F", "a tight-fitting lid",
    "induction compatibility", "dishwasher-safe construction"
};

static const char *const  rs_gen_cook_tags[] = {
    "nonstick", "induction", "oven-safe", "dishwasher-safe", "cast-iron",
    "pfoa-free"
};

static const char *const  rs_gen_cook_oven[] = {
    "350", "400", "450", "500"
};

static const char *const  rs_gen_knife_brands[] = {
    "Hoshi Blade", "Kitchenry", "Edgewright", "Solingen Works"
};

static const char *const  rs_gen_knife_adjectives[] = {
    "Japanese", "German Steel", "Damascus", "Forged", "Serrated"
};

static const char *const  rs_gen_knife_nouns[] = {
    "Chef's Knife", "Santoku Knife", "Paring Knife", "Knife Set",
    "Bread Knife"
};

static const char *const  rs_gen_knife_variants[] = {
    "6\"", "8\"", "10\"", "5-Piece", "7-Piece"
};

static const char *const  rs_gen_knife_materials[] = {
    "high-carbon stainless steel", "67-layer Damascus steel",
    "a pakkawood handle", "a full-tang blade"
};

static const char *const  rs_gen_knife_uses[] = {
    "slicing vegetables", "breaking down poultry", "home cooks",
    "professional kitchens"
};

static const char *const  rs_gen_knife_features[] = {
    "a razor-sharp edge", "an ergonomic handle", "a protective sheath",
    "a bolster for balance"
};

static const char *const  rs_gen_knife_tags[] = {
    "sharp", "forged", "japanese", "gift", "full-tang"
};

static const char *const  rs_gen_knife_steel[] = {
    "High-Carbon Steel", "Damascus Steel", "Ceramic", "Stainless Steel"
};

static const char *const  rs_gen_coffee_brands[] = {
    "Café Bellini", "Brewhaus", "Morning Ritual", "Kitchenry",
    "Barista Lane"
};

static const char *const  rs_gen_coffee_models[] = {
    "Classic", "Crema", "Aroma", "Ritual", "Velvet"
};

static const char *const  rs_gen_coffee_adjectives[] = {
    "Programmable", "Drip", "Espresso", "Single-Serve", "Pour-Over",
    "Cold Brew"
};

static const char *const  rs_gen_coffee_nouns[] = {
    "Coffee Maker", "Coffee Maker", "Espresso Machine", "Coffee Machine",
    "Coffee Brewer"
};

static const char *const  rs_gen_coffee_materials[] = {
    "a stainless steel carafe", "a borosilicate glass carafe",
    "brushed stainless steel"
};

static const char *const  rs_gen_coffee_uses[] = {
    "busy mornings", "espresso lovers", "small kitchens",
    "office break rooms"
};

static const char *const  rs_gen_coffee_features[] = {
    "a programmable timer", "a built-in grinder", "a 15-bar pump",
    "a steam wand", "an auto shut-off", "a reusable filter"
};

static const char *const  rs_gen_coffee_tags[] = {
    "programmable", "espresso", "grinder", "thermal-carafe",
    "single-serve"
};

static const char *const  rs_gen_coffee_cups[] = {
    "1", "4", "8", "10", "12"
};

static const char *const  rs_gen_blender_brands[] = {
    "Vortexa", "Kitchenry", "Blendwell", "Brewhaus"
};

static const char *const  rs_gen_blender_models[] = {
    "Pro", "Power", "Pulse", "Max"
};

static const char *const  rs_gen_blender_adjectives[] = {
    "High-Speed", "Personal", "Countertop", "Professional"
};

static const char *const  rs_gen_blender_nouns[] = {
    "Blender", "Smoothie Blender", "Food Processor"
};

static const char *const  rs_gen_blender_materials[] = {
    "a BPA-free Tritan jar", "stainless steel blades", "a die-cast base"
};

static const char *const  rs_gen_blender_uses[] = {
    "smoothies", "nut butters", "frozen drinks", "soups"
};

static const char *const  rs_gen_blender_features[] = {
    "variable speed control", "a 1200-watt motor", "a pulse mode",
    "a self-cleaning cycle"
};

static const char *const  rs_gen_blender_tags[] = {
    "high-speed", "bpa-free", "dishwasher-safe", "smoothie", "compact"
};

static const char *const  rs_gen_blender_watts[] = {
    "600", "900", "1200", "1500"
};

static const char *const  rs_gen_sheet_brands[] = {
    "Linen & Loom", "Dreamcrest", "Softhaven", "Northfield Home"
};

static const char *const  rs_gen_sheet_adjectives[] = {
    "Percale", "Sateen", "Linen", "Bamboo", "Organic Cotton", "Flannel"
};

static const char *const  rs_gen_sheet_nouns[] = {
    "Sheet Set", "Duvet Cover", "Pillowcase Set"
};

static const char *const  rs_gen_sheet_variants[] = {
    "Twin", "Full", "Queen", "King"
};

static const char *const  rs_gen_sheet_materials[] = {
    "long-staple cotton", "stonewashed linen", "bamboo-derived viscose",
    "organic cotton"
};

static const char *const  rs_gen_sheet_uses[] = {
    "hot sleepers", "year-round comfort", "guest rooms",
    "cozy winter nights"
};

static const char *const  rs_gen_sheet_features[] = {
    "deep pockets", "a breathable weave", "a silky finish",
    "low-impact dyes"
};

static const char *const  rs_gen_sheet_tags[] = {
    "organic", "cooling", "breathable", "hypoallergenic", "deep-pocket"
};

static const char *const  rs_gen_sheet_threads[] = {
    "200", "300", "400", "600"
};

static const char *const  rs_gen_chair_brands[] = {
    "Ergoform", "Sitwell", "Northfield Home", "Apex Systems"
};

static const char *const  rs_gen_chair_models[] = {
    "Posture", "Contour", "Summit", "Pivot"
};

static const char *const  rs_gen_chair_adjectives[] = {
    "Ergonomic", "Mesh", "Executive", "Gaming", "High-Back"
};

static const char *const  rs_gen_chair_nouns[] = {
    "Office Chair", "Desk Chair", "Task Chair"
};

static const char *const  rs_gen_chair_materials[] = {
    "breathable mesh", "bonded leather", "a steel base",
    "high-density foam"
};

static const char *const  rs_gen_chair_uses[] = {
    "long workdays", "home offices", "gaming sessions", "small spaces"
};

static const char *const  rs_gen_chair_features[] = {
    "adjustable lumbar support", "4D armrests", "a tilt lock",
    "smooth-rolling casters", "a padded headrest"
};

static const char *const  rs_gen_chair_tags[] = {
    "ergonomic", "mesh", "adjustable", "lumbar-support", "gaming"
};

static const char *const  rs_gen_chair_load[] = {
    "250", "275", "300", "350"
};

static const char *const  rs_gen_lamp_brands[] = {
    "Lumen & Co", "Northfield Home", "Glowhaus", "Alder & Oak"
};

static const char *const  rs_gen_lamp_adjectives[] = {
    "Modern", "Industrial", "Mid-Century", "Dimmable", "LED"
};

static const char *const  rs_gen_lamp_nouns[] = {
    "Table Lamp", "Floor Lamp", "Desk Lamp", "Pendant Light"
};

static const char *const  rs_gen_lamp_materials[] = {
    "brushed brass", "matte black steel", "a linen shade", "solid oak"
};

static const char *const  rs_gen_lamp_uses[] = {
    "reading nooks", "bedside tables", "living rooms", "home offices"
};

static const char *const  rs_gen_lamp_features[] = {
    "a dimmable LED bulb", "a touch switch", "a USB charging port",
    "an adjustable arm"
};

static const char *const  rs_gen_lamp_tags[] = {
    "dimmable", "led", "modern", "usb", "energy-efficient"
};

static const char *const  rs_gen_lamp_finish[] = {
    "Brass", "Matte Black", "Nickel", "Oak", "White"
};


/* Sports & Outdoors */

static const char *const  rs_gen_tent_brands[] = {
    "Ridgeline", "Basecamp Co", "Northpeak", "Trailhaven", "Highmark"
};

static const char *const  rs_gen_tent_models[] = {
    "Dome", "Summit", "Haven", "Nomad", "Ridge"
};

static const char *const  rs_gen_tent_adjectives[] = {
    "Ultralight", "Backpacking", "Family", "Instant", "4-Season"
};

static const char *const  rs_gen_tent_nouns[] = {
    "Tent", "Camping Tent", "Backpacking Tent"
};

static const char *const  rs_gen_tent_variants[] = {
    "1-Person", "2-Person", "4-Person", "6-Person"
};

static const char *const  rs_gen_tent_materials[] = {
    "ripstop nylon", "aluminum poles", "a waterproof polyester fly",
    "silicone-coated fabric"
};

static const char *const  rs_gen_tent_uses[] = {
    "backpacking trips", "car camping", "festivals", "alpine expeditions"
};

static const char *const  rs_gen_tent_features[] = {
    "a full-coverage rainfly", "two vestibules", "color-coded poles",
    "mesh ventilation panels", "a bathtub floor"
};

static const char *const  rs_gen_tent_tags[] = {
    "waterproof", "ultralight", "freestanding", "family", "3-season"
};

static const char *const  rs_gen_tent_weight[] = {
    "980", "1450", "2100", "3600", "5200"
};

static const char *const  rs_gen_pack_brands[] = {
    "Ridgeline", "Trailhaven", "Basecamp Co", "Northpeak", "Packsmith"
};

static const char *const  rs_gen_pack_models[] = {
    "Trek", "Venture", "Summit", "Atlas", "Commuter"
};

static const char *const  rs_gen_pack_adjectives[] = {
    "Hiking", "Waterproof", "Travel", "Ultralight", "Laptop"
};

static const char *const  rs_gen_pack_nouns[] = {
    "Backpack", "Backpack", "Daypack", "Hiking Pack", "Rucksack"
};

static const char *const  rs_gen_pack_variants[] = {
    "20L", "30L", "45L", "65L"
};

static const char *const  rs_gen_pack_materials[] = {
    "recycled ripstop nylon", "waxed canvas", "a padded back panel",
    "water-resistant polyester"
};

static const char *const  rs_gen_pack_uses[] = {
    "day hikes", "weekend trips", "daily commutes", "air travel",
    "multi-day treks"
};

static const char *const  rs_gen_pack_features[] = {
    "a hydration sleeve", "a padded laptop compartment",
    "an adjustable hip belt", "compression straps", "a rain cover"
};

static const char *const  rs_gen_pack_tags[] = {
    "waterproof", "hiking", "laptop", "travel", "lightweight", "recycled"
};

static const char *const  rs_gen_bag_brands[] = {
    "Trailhaven", "Northpeak", "Basecamp Co", "Highmark"
};

static const char *const  rs_gen_bag_adjectives[] = {
    "Down", "Synthetic", "Mummy", "Rectangular", "Ultralight"
};

static const char *const  rs_gen_bag_nouns[] = {
    "Sleeping Bag", "Sleeping Bag", "Sleeping Quilt"
};

static const char *const  rs_gen_bag_variants[] = {
    "0°F", "20°F", "30°F", "40°F"
};

static const char *const  rs_gen_bag_materials[] = {
    "800-fill down", "synthetic insulation", "a ripstop shell",
    "a brushed polyester lining"
};

static const char *const  rs_gen_bag_uses[] = {
    "cold-weather camping", "summer trips", "thru-hiking", "car camping"
};

static const char *const  rs_gen_bag_features[] = {
    "a draft collar", "a two-way zipper", "a compression sack",
    "a contoured hood"
};

static const char *const  rs_gen_bag_tags[] = {
    "down", "lightweight", "compressible", "3-season", "warm"
};

static const char *const  rs_gen_yoga_brands[] = {
    "Zenflow", "Lotus Lane", "Kinetix", "Balance Studio"
};

static const char *const  rs_gen_yoga_adjectives[] = {
    "Non-Slip", "Extra-Thick", "Eco-Friendly", "Travel", "Cork"
};

static const char *const  rs_gen_yoga_nouns[] = {
    "Yoga Mat", "Yoga Mat", "Exercise Mat", "Pilates Mat"
};

static const char *const  rs_gen_yoga_variants[] = {
    "4 mm", "6 mm", "8 mm"
};

static const char *const  rs_gen_yoga_materials[] = {
    "natural tree rubber", "TPE foam", "sustainable cork",
    "PVC-free foam"
};

static const char *const  rs_gen_yoga_uses[] = {
    "hot yoga", "pilates", "home workouts", "stretching"
};

static const char *const  rs_gen_yoga_features[] = {
    "alignment lines", "a carrying strap", "a moisture-wicking surface",
    "extra cushioning"
};

static const char *const  rs_gen_yoga_tags[] = {
    "non-slip", "eco-friendly", "vegan", "thick", "lightweight"
};

static const char *const  rs_gen_bell_brands[] = {
    "Übergrip", "Ironclad Fitness", "Kinetix", "Forgeline"
};

static const char *const  rs_gen_bell_adjectives[] = {
    "Adjustable", "Hex", "Neoprene", "Rubber-Coated"
};

static const char *const  rs_gen_bell_nouns[] = {
    "Dumbbells", "Dumbbell Set", "Kettlebell"
};

static const char *const  rs_gen_bell_variants[] = {
    "5 lb", "10 lb", "25 lb", "52.5 lb"
};

static const char *const  rs_gen_bell_materials[] = {
    "solid cast iron", "a rubber coating", "knurled chrome handles",
    "neoprene"
};

static const char *const  rs_gen_bell_uses[] = {
    "home gyms", "strength training", "HIIT workouts", "rehab exercises"
};

static const char *const  rs_gen_bell_features[] = {
    "a quick-change dial", "a storage tray", "non-roll hex heads",
    "a contoured grip"
};

static const char *const  rs_gen_bell_tags[] = {
    "adjustable", "home-gym", "strength", "compact"
};

static const char *const  rs_gen_bell_max[] = {
    "10", "25", "50", "90"
};

static const char *const  rs_gen_bike_brands[] = {
    "Velocita", "Spokeworks", "Ridgeline", "Cadence Cycles"
};

static const char *const  rs_gen_bike_models[] = {
    "Roam", "Apex", "Sprint", "Trail", "Metro"
};

static const char *const  rs_gen_bike_adjectives[] = {
    "Road", "Mountain", "Hybrid", "Electric", "Gravel"
};

static const char *const  rs_gen_bike_nouns[] = {
    "Bike", "Bicycle"
};

static const char *const  rs_gen_bike_materials[] = {
    "a lightweight aluminum frame", "a carbon fork",
    "a chromoly steel frame"
};

static const char *const  rs_gen_bike_uses[] = {
    "daily commuting", "gravel adventures", "weekend rides",
    "singletrack trails"
};

static const char *const  rs_gen_bike_features[] = {
    "hydraulic disc brakes", "a 12-speed drivetrain",
    "tubeless-ready wheels", "front suspension", "integrated lights"
};

static const char *const  rs_gen_bike_tags[] = {
    "commuter", "electric", "lightweight", "disc-brakes", "gravel"
};

static const char *const  rs_gen_bike_frames[] = {
    "S", "M", "L", "XL"
};


/* Clothing */

static const char *const  rs_gen_jacket_brands[] = {
    "Northpeak", "Harbor & Pine", "Urbano", "Stormline"
};

static const char *const  rs_gen_jacket_adjectives[] = {
    "Waterproof", "Insulated", "Packable", "Softshell", "Down", "Rain"
};

static const char *const  rs_gen_jacket_nouns[] = {
    "Jacket", "Parka", "Shell Jacket", "Puffer Jacket"
};

static const char *const  rs_gen_jacket_materials[] = {
    "recycled nylon", "a waterproof-breathable membrane", "600-fill down",
    "a fleece lining"
};

static const char *const  rs_gen_jacket_uses[] = {
    "rainy commutes", "ski trips", "hiking", "cold city days"
};

static const char *const  rs_gen_jacket_features[] = {
    "sealed seams", "an adjustable hood", "zippered hand pockets",
    "pit zips", "a packable design"
};

static const char *const  rs_gen_jacket_tags[] = {
    "waterproof", "insulated", "packable", "windproof", "recycled"
};

static const char *const  rs_gen_legging_brands[] = {
    "Zenflow", "Lotus Lane", "Kinetix", "Harbor & Pine"
};

static const char *const  rs_gen_legging_adjectives[] = {
    "High-Waisted", "Seamless", "Thermal", "Compression", "Pocket"
};

static const char *const  rs_gen_legging_nouns[] = {
    "Leggings", "Yoga Pants", "Running Tights"
};

static const char *const  rs_gen_legging_materials[] = {
    "a buttery-soft nylon blend", "recycled polyester", "brushed fleece",
    "four-way stretch fabric"
};

static const char *const  rs_gen_legging_uses[] = {
    "yoga", "running", "gym workouts", "lounging"
};

static const char *const  rs_gen_legging_features[] = {
    "side pockets", "a hidden waistband pocket", "squat-proof coverage",
    "moisture-wicking fabric"
};

static const char *const  rs_gen_legging_tags[] = {
    "squat-proof", "high-waisted", "moisture-wicking", "pockets",
    "stretch"
};

static const char *const  rs_gen_tee_brands[] = {
    "Harbor & Pine", "Urbano", "Basics Co", "Canvas Row"
};

static const char *const  rs_gen_tee_adjectives[] = {
    "Crew Neck", "V-Neck", "Performance", "Graphic", "Heavyweight"
};

static const char *const  rs_gen_tee_nouns[] = {
    "T-Shirt", "Tee", "Pocket Tee"
};

static const char *const  rs_gen_tee_materials[] = {
    "100% organic cotton", "a cotton-poly blend", "slub jersey",
    "merino wool"
};

static const char *const  rs_gen_tee_uses[] = {
    "everyday wear", "workouts", "layering", "summer weekends"
};

static const char *const  rs_gen_tee_features[] = {
    "a tagless collar", "a relaxed fit", "pre-shrunk fabric",
    "reinforced seams"
};

static const char *const  rs_gen_tee_tags[] = {
    "organic", "cotton", "breathable", "everyday", "slim-fit"
};

static const char *const  rs_gen_dress_brands[] = {
    "Harbor & Pine", "Maison Lune", "Sunstep", "Linen & Loom"
};

static const char *const  rs_gen_dress_adjectives[] = {
    "Wrap", "Midi", "Maxi", "Linen", "Floral", "Sweater"
};

static const char *const  rs_gen_dress_nouns[] = {
    "Dress", "Sundress", "Shirt Dress"
};

static const char *const  rs_gen_dress_materials[] = {
    "breathable linen", "flowy rayon", "soft jersey knit",
    "organic cotton"
};

static const char *const  rs_gen_dress_uses[] = {
    "summer weddings", "office days", "vacations", "date nights"
};

static const char *const  rs_gen_dress_features[] = {
    "hidden pockets", "an adjustable waist tie", "a lined skirt",
    "a flattering A-line cut"
};

static const char *const  rs_gen_dress_tags[] = {
    "floral", "pockets", "linen", "summer", "machine-washable"
};

static const char *const  rs_gen_sock_brands[] = {
    "Stridewell", "Kinetix", "Basics Co", "Ridgeline"
};

static const char *const  rs_gen_sock_adjectives[] = {
    "Cushioned", "Merino Wool", "Compression", "No-Show", "Running",
    "Hiking"
};

static const char *const  rs_gen_sock_nouns[] = {
    "Socks", "Crew Socks", "Ankle Socks"
};

static const char *const  rs_gen_sock_variants[] = {
    "3-Pack", "6-Pack", "Single Pair"
};

static const char *const  rs_gen_sock_materials[] = {
    "merino wool", "moisture-wicking nylon", "recycled polyester",
    "combed cotton"
};

static const char *const  rs_gen_sock_uses[] = {
    "long runs", "hiking", "everyday wear", "cold weather"
};

static const char *const  rs_gen_sock_features[] = {
    "arch support", "a seamless toe", "targeted cushioning",
    "blister protection"
};

static const char *const  rs_gen_sock_tags[] = {
    "cushioned", "moisture-wicking", "merino", "running", "breathable"
};


/* Beauty */

static const char *const  rs_gen_skin_brands[] = {
    "Dewlab", "Botanica", "Purely Skin", "Maison Lune"
};

static const char *const  rs_gen_skin_adjectives[] = {
    "Hydrating", "Oil-Free", "Night", "SPF 30", "Fragrance-Free"
};

static const char *const  rs_gen_skin_nouns[] = {
    "Face Moisturizer", "Cream", "Gel Cream", "Face Lotion"
};

static const char *const  rs_gen_skin_variants[] = {
    "1.7 oz", "2.5 oz", "50 ml"
};

static const char *const  rs_gen_skin_materials[] = {
    "hyaluronic acid", "ceramides", "niacinamide", "shea butter",
    "squalane"
};

static const char *const  rs_gen_skin_uses[] = {
    "dry skin", "sensitive skin", "daily use", "overnight repair"
};

static const char *const  rs_gen_skin_features[] = {
    "a non-greasy finish", "fast absorption",
    "a dermatologist-tested formula", "broad-spectrum protection"
};

static const char *const  rs_gen_skin_tags[] = {
    "vegan", "cruelty-free", "fragrance-free", "hydrating", "spf"
};

static const char *const  rs_gen_skin_types[] = {
    "Dry", "Oily", "Combination", "Sensitive", "All"
};

static const char *const  rs_gen_hair_brands[] = {
    "Botanica", "Purely Skin", "Salon Select", "Dewlab"
};

static const char *const  rs_gen_hair_adjectives[] = {
    "Sulfate-Free", "Clarifying", "Volumizing", "Moisturizing",
    "Anti-Dandruff"
};

static const char *const  rs_gen_hair_nouns[] = {
    "Shampoo", "Shampoo", "Conditioner", "Shampoo and Conditioner Set"
};

static const char *const  rs_gen_hair_variants[] = {
    "12 oz", "16 oz", "33.8 oz"
};

static const char *const  rs_gen_hair_materials[] = {
    "argan oil", "tea tree oil", "biotin", "rice protein"
};

static const char *const  rs_gen_hair_uses[] = {
    "color-treated hair", "fine hair", "curly hair", "daily washing"
};

static const char *const  rs_gen_hair_features[] = {
    "a rich lather", "a light botanical scent", "a pH-balanced formula",
    "a recyclable bottle"
};

static const char *const  rs_gen_hair_tags[] = {
    "sulfate-free", "vegan", "color-safe", "natural", "cruelty-free"
};

static const char *const  rs_gen_hair_types[] = {
    "Normal", "Dry", "Oily", "Curly", "Color-Treated"
};

static const char *const  rs_gen_scent_brands[] = {
    "Maison Lune", "Botanica", "Noir & Vale", "Citrine"
};

static const char *const  rs_gen_scent_models[] = {
    "Midnight", "Amber", "Bloom", "Oud", "Solstice"
};

static const char *const  rs_gen_scent_adjectives[] = {
    "Woody", "Fresh", "Floral", "Citrus", "Warm"
};

static const char *const  rs_gen_scent_nouns[] = {
    "Eau de Parfum", "Eau de Toilette", "Cologne", "Body Mist"
};

static const char *const  rs_gen_scent_variants[] = {
    "1.7 oz", "3.4 oz", "50 ml", "100 ml"
};

static const char *const  rs_gen_scent_materials[] = {
    "notes of bergamot", "a base of sandalwood", "jasmine absolute",
    "vanilla and amber"
};

static const char *const  rs_gen_scent_uses[] = {
    "evening wear", "everyday wear", "special occasions", "gifting"
};

static const char *const  rs_gen_scent_features[] = {
    "long-lasting wear", "a refillable bottle", "a travel atomizer",
    "a soft dry-down"
};

static const char *const  rs_gen_scent_tags[] = {
    "long-lasting", "gift", "unisex", "floral", "woody"
};

static const char *const  rs_gen_scent_volume[] = {
    "30", "50", "100"
};


/* Toys & Games */

static const char *const  rs_gen_brick_brands[] = {
    "Brickworks", "Blockwise", "Tinker Town", "Kidcraft"
};

static const char *const  rs_gen_brick_models[] = {
    "City", "Space", "Castle", "Robotics", "Safari"
};

static const char *const  rs_gen_brick_adjectives[] = {
    "Creative", "Deluxe", "Starter", "STEM"
};

static const char *const  rs_gen_brick_nouns[] = {
    "Building Set", "Brick Set", "Construction Kit"
};

static const char *const  rs_gen_brick_variants[] = {
    "250 Pieces", "500 Pieces", "1200 Pieces"
};

static const char *const  rs_gen_brick_materials[] = {
    "durable ABS plastic", "BPA-free plastic", "sustainably sourced wood"
};

static const char *const  rs_gen_brick_uses[] = {
    "kids ages 6 and up", "family play time", "STEM learning",
    "rainy afternoons"
};

static const char *const  rs_gen_brick_features[] = {
    "step-by-step instructions", "a storage box", "compatible bricks",
    "motorized parts"
};

static const char *const  rs_gen_brick_tags[] = {
    "stem", "creative", "gift", "ages-6-plus", "educational"
};

static const char *const  rs_gen_game_brands[] = {
    "Meeple House", "Tinker Town", "Dicebox Games", "Gamenight Co"
};

static const char *const  rs_gen_game_models[] = {
    "Harbor Lights", "Dragon's Hoard", "Starfall", "Tiny Kingdoms",
    "Rail Barons", "Moonlit Market"
};

static const char *const  rs_gen_game_adjectives[] = {
    "Strategy", "Cooperative", "Family", "Party", "Card"
};

static const char *const  rs_gen_game_nouns[] = {
    "Board Game", "Card Game", "Party Game"
};

static const char *const  rs_gen_game_materials[] = {
    "thick cardboard tiles", "wooden meeples", "linen-finish cards",
    "custom dice"
};

static const char *const  rs_gen_game_uses[] = {
    "family game night", "2 to 5 players", "parties",
    "quick 30-minute sessions"
};

static const char *const  rs_gen_game_features[] = {
    "easy-to-learn rules", "high replay value", "a solo mode",
    "beautiful illustrations"
};

static const char *const  rs_gen_game_tags[] = {
    "family", "strategy", "cooperative", "party", "gift"
};

static const char *const  rs_gen_game_players[] = {
    "1-4", "2-4", "2-5", "2-6", "3-8"
};

static const char *const  rs_gen_plush_brands[] = {
    "Cuddle Co", "Tinker Town", "Snugglebug", "Kidcraft"
};

static const char *const  rs_gen_plush_adjectives[] = {
    "Soft", "Giant", "Weighted", "Mini", "Cuddly"
};

static const char *const  rs_gen_plush_nouns[] = {
    "Teddy Bear", "Plush Bunny", "Stuffed Dinosaur", "Plush Unicorn",
    "Stuffed Sloth"
};

static const char *const  rs_gen_plush_variants[] = {
    "8\"", "12\"", "24\""
};

static const char *const  rs_gen_plush_materials[] = {
    "ultra-soft polyester", "recycled fiberfill", "organic cotton",
    "embroidered eyes"
};

static const char *const  rs_gen_plush_uses[] = {
    "toddlers", "bedtime", "nursery decor", "gifting"
};

static const char *const  rs_gen_plush_features[] = {
    "machine-washable fabric", "child-safe stitching", "a weighted body",
    "a soft squishy feel"
};

static const char *const  rs_gen_plush_tags[] = {
    "soft", "gift", "washable", "baby-safe", "cuddly"
};


/* Books: titles are not product names, so their own templates */

static const char *const  rs_gen_novel_adjectives[] = {
    "The Silent", "The Last", "A Quiet", "The Hidden", "The Lost",
    "Beneath the", "The Winter"
};

static const char *const  rs_gen_novel_nouns[] = {
    "Orchard", "Lighthouse", "River", "Garden", "Archive", "Harbor",
    "Library", "Tide"
};

static const char *const  rs_gen_novel_materials[] = {
    "family secrets", "a small coastal town", "second chances",
    "a lost inheritance", "an unlikely friendship"
};

static const char *const  rs_gen_novel_uses[] = {
    "book clubs", "long flights", "lazy Sunday afternoons",
    "fans of literary fiction"
};

static const char *const  rs_gen_novel_features[] = {
    "gripping", "lyrical", "heartwarming", "suspenseful",
    "beautifully written"
};

static const char *const  rs_gen_novel_tags[] = {
    "bestseller", "fiction", "book-club", "mystery", "literary"
};

static const char *const  rs_gen_novel_sentences[] = {
    "A %F novel about %M.",
    "Perfect for %U.",
    "Published by %b.",
    "Readers call it %F, a story of %M."
};

static const char *const  rs_gen_cookbook_adjectives[] = {
    "Simple", "Weeknight", "The Complete", "Plant-Based", "Everyday"
};

static const char *const  rs_gen_cookbook_nouns[] = {
    "Baking", "Italian Cooking", "Grilling", "Meal Prep", "Bread"
};

static const char *const  rs_gen_cookbook_models[] = {
    "100 Recipes for Every Day", "A Cookbook", "Recipes and Techniques",
    "Quick and Easy Meals"
};

static const char *const  rs_gen_cookbook_materials[] = {
    "seasonal vegetables", "pantry staples", "fresh pasta", "sourdough",
    "bold spices"
};

static const char *const  rs_gen_cookbook_uses[] = {
    "busy families", "beginner cooks", "dinner parties", "meal planning"
};

static const char *const  rs_gen_cookbook_features[] = {
    "approachable", "foolproof", "crowd-pleasing", "healthy",
    "time-saving"
};

static const char *const  rs_gen_cookbook_tags[] = {
    "cookbook", "recipes", "gift", "vegetarian", "baking"
};

static const char *const  rs_gen_cookbook_sentences[] = {
    "Over 100 %F recipes featuring %M.",
    "Perfect for %U.",
    "Published by %b.",
    "Includes step-by-step photos and %F tips."
};

static const char *const  rs_gen_science_adjectives[] = {
    "The Hidden Life of", "A Brief History of", "The Secret World of",
    "Understanding"
};

static const char *const  rs_gen_science_nouns[] = {
    "Trees", "Oceans", "Stars", "Birds", "the Brain", "Fungi"
};

static const char *const  rs_gen_science_materials[] = {
    "how forests communicate", "the deep ocean",
    "the origins of the universe", "animal migration"
};

static const char *const  rs_gen_science_uses[] = {
    "curious readers", "students", "nature lovers", "gift giving"
};

static const char *const  rs_gen_science_features[] = {
    "fascinating", "captivating", "thought-provoking",
    "richly illustrated", "clear-eyed"
};

static const char *const  rs_gen_science_tags[] = {
    "science", "nature", "nonfiction", "educational", "gift"
};

static const char *const  rs_gen_science_sentences[] = {
    "A %F exploration of %M.",
    "Perfect for %U.",
    "Published by %b.",
    "Praised as %F and written for %U."
};

static const char *const  rs_gen_languages[] = {
    "English", "English", "English", "Spanish", "French"
};


/* Grocery */

static const char *const  rs_gen_bean_brands[] = {
    "Morning Ritual", "Roastery Row", "Highland Leaf", "Café Bellini"
};

static const char *const  rs_gen_bean_models[] = {
    "Sunrise", "House", "Midnight", "Highland", "Origin"
};

static const char *const  rs_gen_bean_adjectives[] = {
    "Medium Roast", "Dark Roast", "Light Roast", "Organic", "Decaf"
};

static const char *const  rs_gen_bean_nouns[] = {
    "Whole Bean Coffee", "Ground Coffee", "Loose Leaf Tea", "Coffee Pods"
};

static const char *const  rs_gen_bean_variants[] = {
    "12 oz", "2 lb", "100 Count"
};

static const char *const  rs_gen_bean_materials[] = {
    "single-origin Arabica beans", "fair-trade beans",
    "organic green tea leaves", "Ethiopian heirloom beans"
};

static const char *const  rs_gen_bean_uses[] = {
    "espresso", "pour-over", "cold brew", "French press",
    "morning routines"
};

static const char *const  rs_gen_bean_features[] = {
    "notes of dark chocolate", "a smooth finish",
    "bright citrus acidity", "small-batch roasting"
};

static const char *const  rs_gen_bean_tags[] = {
    "organic", "fair-trade", "decaf", "whole-bean", "single-origin"
};

static const char *const  rs_gen_bean_roast[] = {
    "Light", "Medium", "Dark"
};


/* the six banks every category owns, named rs_gen_<p>_<bank> */
#define rs_gen_banks(p)                                                       \
    rs_gen_list(rs_gen_##p##_adjectives), rs_gen_list(rs_gen_##p##_nouns),    \
    rs_gen_list(rs_gen_##p##_materials), rs_gen_list(rs_gen_##p##_uses),      \
    rs_gen_list(rs_gen_##p##_features), rs_gen_list(rs_gen_##p##_tags)

#define rs_gen_attr(name, number, a)  { name, number, rs_gen_list(a) }


/*
 * Weights make running shoes the largest leaf: the demo query is
 * "running shoes under 100" and needs plenty of candidates.
 */

static const rs_gen_category_t  rs_gen_categories[] = {

    { "Shoes > Running", "%b %v %m %d %a %n", 12, 4500, 22000, 20, 45,
      rs_gen_banks(run),
      rs_gen_list(rs_gen_run_brands), rs_gen_list(rs_gen_run_models),
      rs_gen_list(rs_gen_gender), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size_us", 1, rs_gen_shoe_sizes) } },

    { "Shoes > Trail Running", "%b %v %m %d %a %n", 4, 6000, 20000, 20, 45,
      rs_gen_banks(trail),
      rs_gen_list(rs_gen_trail_brands), rs_gen_list(rs_gen_trail_models),
      rs_gen_list(rs_gen_gender), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size_us", 1, rs_gen_shoe_sizes) } },

    { "Shoes > Hiking Boots", "%b %v %m %a %n", 3, 8000, 26000, 20, 40,
      rs_gen_banks(boot),
      rs_gen_list(rs_gen_boot_brands), rs_gen_list(rs_gen_boot_models),
      rs_gen_list(rs_gen_gender), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size_us", 1, rs_gen_shoe_sizes) } },

    { "Shoes > Casual Sneakers", "%b %v %m %a %n", 4, 4000, 15000, 25, 50,
      rs_gen_banks(sneaker),
      rs_gen_list(rs_gen_sneaker_brands), rs_gen_list(rs_gen_sneaker_models),
      rs_gen_list(rs_gen_gender_unisex), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size_us", 1, rs_gen_shoe_sizes) } },

    { "Shoes > Sandals", "%b %v %m %a %n", 2, 2000, 9000, 25, 50,
      rs_gen_banks(sandal),
      rs_gen_list(rs_gen_sandal_brands), rs_gen_list(rs_gen_sandal_models),
      rs_gen_list(rs_gen_gender), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size_us", 1, rs_gen_shoe_sizes) } },

    { "Electronics > Computers > Laptops", "%b %m %v %a %n",
      4, 29900, 299900, 5, 18,
      rs_gen_banks(laptop),
      rs_gen_list(rs_gen_laptop_brands), rs_gen_list(rs_gen_laptop_models),
      rs_gen_list(rs_gen_laptop_variants), rs_gen_no_list,
      { rs_gen_attr("ram_gb", 1, rs_gen_laptop_ram),
        rs_gen_attr("storage_gb", 1, rs_gen_laptop_storage) } },

    { "Electronics > Computers > Monitors", "%b %m %v %a %n",
      2, 12900, 129900, 8, 22,
      rs_gen_banks(monitor),
      rs_gen_list(rs_gen_monitor_brands), rs_gen_list(rs_gen_monitor_models),
      rs_gen_list(rs_gen_monitor_variants), rs_gen_no_list,
      { rs_gen_attr("refresh_hz", 1, rs_gen_monitor_refresh),
        rs_gen_no_attr } },

    { "Electronics > Computers > Keyboards & Mice", "%b %m %d %a %n",
      2, 1900, 19900, 20, 45,
      rs_gen_banks(kbd),
      rs_gen_list(rs_gen_kbd_brands), rs_gen_list(rs_gen_kbd_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("connectivity", 0, rs_gen_kbd_connectivity),
        rs_gen_no_attr } },

    { "Electronics > Audio > Headphones", "%b %m %d %a %n",
      5, 1500, 45000, 15, 45,
      rs_gen_banks(hp),
      rs_gen_list(rs_gen_hp_brands), rs_gen_list(rs_gen_hp_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("battery_hours", 1, rs_gen_hp_battery) } },

    { "Electronics > Audio > Speakers", "%b %m %d %a %n",
      2, 2500, 39900, 15, 40,
      rs_gen_banks(spk),
      rs_gen_list(rs_gen_spk_brands), rs_gen_list(rs_gen_spk_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors), rs_gen_no_attr } },

    { "Electronics > Phones > Smartphones", "%b %m %d %a %n",
      2, 19900, 139900, 5, 15,
      rs_gen_banks(phone),
      rs_gen_list(rs_gen_phone_brands), rs_gen_list(rs_gen_phone_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("storage_gb", 1, rs_gen_phone_storage),
        rs_gen_attr("color", 0, rs_gen_colors) } },

    { "Electronics > Wearables > Smartwatches", "%b %m %d %a %n",
      2, 4900, 79900, 10, 30,
      rs_gen_banks(watch),
      rs_gen_list(rs_gen_watch_brands), rs_gen_list(rs_gen_watch_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("case_mm", 1, rs_gen_watch_case) } },

    { "Electronics > TV & Video > Televisions", "%b %m %v %a %n",
      2, 14900, 399900, 5, 15,
      rs_gen_banks(tv),
      rs_gen_list(rs_gen_tv_brands), rs_gen_list(rs_gen_tv_models),
      rs_gen_list(rs_gen_tv_variants), rs_gen_no_list,
      { rs_gen_attr("hdmi_ports", 1, rs_gen_tv_hdmi), rs_gen_no_attr } },

    { "Electronics > Cameras", "%b %m %d %a %n", 1, 29900, 249900, 8, 20,
      rs_gen_banks(camera),
      rs_gen_list(rs_gen_camera_brands), rs_gen_list(rs_gen_camera_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("megapixels", 1, rs_gen_camera_mp), rs_gen_no_attr } },

    { "Home > Kitchen > Cookware", "%b %a %n, %v", 4, 1900, 39900, 30, 55,
      rs_gen_banks(cook),
      rs_gen_list(rs_gen_cook_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_cook_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("oven_safe_f", 1, rs_gen_cook_oven) } },

    { "Home > Kitchen > Knives", "%b %a %n, %v", 2, 1500, 29900, 30, 55,
      rs_gen_banks(knife),
      rs_gen_list(rs_gen_knife_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_knife_variants), rs_gen_no_list,
      { rs_gen_attr("blade_material", 0, rs_gen_knife_steel),
        rs_gen_no_attr } },

    { "Home > Kitchen > Coffee Makers", "%b %m %a %n",
      3, 2500, 89900, 20, 40,
      rs_gen_banks(coffee),
      rs_gen_list(rs_gen_coffee_brands), rs_gen_list(rs_gen_coffee_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("capacity_cups", 1, rs_gen_coffee_cups),
        rs_gen_attr("color", 0, rs_gen_colors) } },

    { "Home > Kitchen > Blenders", "%b %m %d %a %n", 2, 2900, 49900, 20, 40,
      rs_gen_banks(blender),
      rs_gen_list(rs_gen_blender_brands), rs_gen_list(rs_gen_blender_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("watts", 1, rs_gen_blender_watts), rs_gen_no_attr } },

    { "Home > Bedding > Sheets", "%b %a %n, %v", 2, 2900, 24900, 35, 60,
      rs_gen_banks(sheet),
      rs_gen_list(rs_gen_sheet_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_sheet_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("thread_count", 1, rs_gen_sheet_threads) } },

    { "Home > Furniture > Office Chairs", "%b %m %a %n",
      2, 9900, 89900, 20, 45,
      rs_gen_banks(chair),
      rs_gen_list(rs_gen_chair_brands), rs_gen_list(rs_gen_chair_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("max_load_lb", 1, rs_gen_chair_load) } },

    { "Home > Lighting > Lamps", "%b %a %n", 2, 1900, 19900, 30, 55,
      rs_gen_banks(lamp),
      rs_gen_list(rs_gen_lamp_brands), rs_gen_no_list,
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("finish", 0, rs_gen_lamp_finish), rs_gen_no_attr } },

    { "Sports & Outdoors > Camping > Tents", "%b %m %v %a %n",
      2, 5900, 69900, 20, 45,
      rs_gen_banks(tent),
      rs_gen_list(rs_gen_tent_brands), rs_gen_list(rs_gen_tent_models),
      rs_gen_list(rs_gen_tent_variants), rs_gen_no_list,
      { rs_gen_attr("weight_g", 1, rs_gen_tent_weight), rs_gen_no_attr } },

    { "Sports & Outdoors > Camping > Backpacks", "%b %m %v %a %n",
      3, 2900, 32900, 25, 50,
      rs_gen_banks(pack),
      rs_gen_list(rs_gen_pack_brands), rs_gen_list(rs_gen_pack_models),
      rs_gen_list(rs_gen_pack_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors), rs_gen_no_attr } },

    { "Sports & Outdoors > Camping > Sleeping Bags", "%b %a %n, %v",
      1, 3900, 39900, 20, 45,
      rs_gen_banks(bag),
      rs_gen_list(rs_gen_bag_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_bag_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors), rs_gen_no_attr } },

    { "Sports & Outdoors > Fitness > Yoga Mats", "%b %a %n, %v",
      2, 1500, 12900, 35, 60,
      rs_gen_banks(yoga),
      rs_gen_list(rs_gen_yoga_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_yoga_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors), rs_gen_no_attr } },

    { "Sports & Outdoors > Fitness > Weights", "%b %a %n, %v",
      1, 1900, 49900, 20, 40,
      rs_gen_banks(bell),
      rs_gen_list(rs_gen_bell_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_bell_variants), rs_gen_no_list,
      { rs_gen_attr("max_weight_lb", 1, rs_gen_bell_max), rs_gen_no_attr } },

    { "Sports & Outdoors > Cycling > Bikes", "%b %m %d %a %n",
      1, 29900, 299900, 10, 30,
      rs_gen_banks(bike),
      rs_gen_list(rs_gen_bike_brands), rs_gen_list(rs_gen_bike_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("frame_size", 0, rs_gen_bike_frames),
        rs_gen_attr("color", 0, rs_gen_colors) } },

    { "Clothing > Men > Jackets", "%b Men's %a %n", 2, 4900, 34900, 35, 60,
      rs_gen_banks(jacket),
      rs_gen_list(rs_gen_jacket_brands), rs_gen_no_list,
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size", 0, rs_gen_apparel_sizes) } },

    { "Clothing > Women > Leggings", "%b Women's %a %n",
      2, 2500, 11900, 35, 60,
      rs_gen_banks(legging),
      rs_gen_list(rs_gen_legging_brands), rs_gen_no_list,
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size", 0, rs_gen_apparel_sizes) } },

    { "Clothing > Men > T-Shirts", "%b Men's %a %n", 3, 1200, 4900, 40, 60,
      rs_gen_banks(tee),
      rs_gen_list(rs_gen_tee_brands), rs_gen_no_list,
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size", 0, rs_gen_apparel_sizes) } },

    { "Clothing > Women > Dresses", "%b Women's %a %n",
      2, 2900, 15900, 35, 60,
      rs_gen_banks(dress),
      rs_gen_list(rs_gen_dress_brands), rs_gen_no_list,
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("size", 0, rs_gen_apparel_sizes) } },

    { "Clothing > Accessories > Socks", "%b %a %n, %v",
      2, 800, 3200, 40, 60,
      rs_gen_banks(sock),
      rs_gen_list(rs_gen_sock_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_sock_variants), rs_gen_no_list,
      { rs_gen_attr("size", 0, rs_gen_sock_sizes), rs_gen_no_attr } },

    { "Beauty > Skincare > Moisturizers", "%b %a %n, %v",
      2, 900, 8900, 40, 60,
      rs_gen_banks(skin),
      rs_gen_list(rs_gen_skin_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_skin_variants), rs_gen_no_list,
      { rs_gen_attr("skin_type", 0, rs_gen_skin_types), rs_gen_no_attr } },

    { "Beauty > Hair Care > Shampoo", "%b %a %n, %v", 2, 600, 4500, 40, 60,
      rs_gen_banks(hair),
      rs_gen_list(rs_gen_hair_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_hair_variants), rs_gen_no_list,
      { rs_gen_attr("hair_type", 0, rs_gen_hair_types), rs_gen_no_attr } },

    { "Beauty > Fragrance", "%b %m %n, %v", 1, 1900, 19900, 40, 60,
      rs_gen_banks(scent),
      rs_gen_list(rs_gen_scent_brands), rs_gen_list(rs_gen_scent_models),
      rs_gen_list(rs_gen_scent_variants), rs_gen_no_list,
      { rs_gen_attr("volume_ml", 1, rs_gen_scent_volume),
        rs_gen_no_attr } },

    { "Toys & Games > Building Sets", "%b %m %a %n, %v",
      2, 999, 14999, 25, 50,
      rs_gen_banks(brick),
      rs_gen_list(rs_gen_brick_brands), rs_gen_list(rs_gen_brick_models),
      rs_gen_list(rs_gen_brick_variants), rs_gen_no_list,
      { rs_gen_attr("age_min", 1, rs_gen_age_min), rs_gen_no_attr } },

    { "Toys & Games > Board Games", "%m %a %n", 2, 1499, 7999, 25, 50,
      rs_gen_banks(game),
      rs_gen_list(rs_gen_game_brands), rs_gen_list(rs_gen_game_models),
      rs_gen_no_list, rs_gen_no_list,
      { rs_gen_attr("players", 0, rs_gen_game_players),
        rs_gen_attr("age_min", 1, rs_gen_age_min) } },

    { "Toys & Games > Plush Toys", "%b %a %n, %v", 1, 799, 4999, 30, 55,
      rs_gen_banks(plush),
      rs_gen_list(rs_gen_plush_brands), rs_gen_no_list,
      rs_gen_list(rs_gen_plush_variants), rs_gen_no_list,
      { rs_gen_attr("color", 0, rs_gen_colors),
        rs_gen_attr("age_min", 1, rs_gen_age_min) } },

    { "Books > Fiction", "%a %n (%v)", 2, 899, 2999, 10, 30,
      rs_gen_banks(novel),
      rs_gen_list(rs_gen_publishers), rs_gen_no_list,
      rs_gen_list(rs_gen_book_formats),
      rs_gen_list(rs_gen_novel_sentences),
      { rs_gen_attr("pages", 1, rs_gen_pages),
        rs_gen_attr("language", 0, rs_gen_languages) } },

    { "Books > Cookbooks", "%a %n: %m (%v)", 1, 1499, 3999, 10, 30,
      rs_gen_banks(cookbook),
      rs_gen_list(rs_gen_publishers), rs_gen_list(rs_gen_cookbook_models),
      rs_gen_list(rs_gen_book_formats),
      rs_gen_list(rs_gen_cookbook_sentences),
      { rs_gen_attr("pages", 1, rs_gen_pages), rs_gen_no_attr } },

    { "Books > Science & Nature", "%a %n (%v)", 1, 1299, 3499, 10, 30,
      rs_gen_banks(science),
      rs_gen_list(rs_gen_publishers), rs_gen_no_list,
      rs_gen_list(rs_gen_book_formats),
      rs_gen_list(rs_gen_science_sentences),
      { rs_gen_attr("pages", 1, rs_gen_pages),
        rs_gen_attr("language", 0, rs_gen_languages) } },

    { "Grocery > Coffee & Tea", "%b %m %a %n, %v", 2, 799, 3499, 20, 45,
      rs_gen_banks(bean),
      rs_gen_list(rs_gen_bean_brands), rs_gen_list(rs_gen_bean_models),
      rs_gen_list(rs_gen_bean_variants), rs_gen_no_list,
      { rs_gen_attr("roast", 0, rs_gen_bean_roast), rs_gen_no_attr } }
};


#define RS_GEN_NCATEGORIES                                                    \
    (sizeof(rs_gen_categories) / sizeof(rs_gen_categories[0]))


static const rs_gen_list_t  rs_gen_default_sentences =
    rs_gen_list(rs_gen_sentences);


static uint64_t rs_gen_mix(uint64_t z);
static void rs_gen_rng_init(rs_gen_rng_t *rng, uint64_t seed,
    uint64_t index);
static uint64_t rs_gen_next(rs_gen_rng_t *rng);
static uint32_t rs_gen_range(rs_gen_rng_t *rng, uint32_t n);
static const char *rs_gen_pick(rs_gen_rng_t *rng, const rs_gen_list_t *list);
static size_t rs_gen_shuffle(rs_gen_rng_t *rng, size_t *idx, size_t n,
    size_t k);
static int rs_gen_flush(rs_gen_out_t *out);
static void rs_gen_put(rs_gen_out_t *out, const char *s, size_t len);
static void rs_gen_put_esc(rs_gen_out_t *out, const char *s, size_t len,
    int lower);
static void rs_gen_put_str(rs_gen_out_t *out, const char *s);
static void rs_gen_put_uint(rs_gen_out_t *out, uint64_t v, unsigned width);
static void rs_gen_put_fixed(rs_gen_out_t *out, uint64_t v, unsigned frac);
static void rs_gen_put_time(rs_gen_out_t *out, uint64_t t);
static void rs_gen_put_fmt(rs_gen_out_t *out, rs_gen_item_t *it,
    const char *fmt, int lower);
static void rs_gen_put_description(rs_gen_out_t *out, rs_gen_rng_t *rng,
    rs_gen_item_t *it);
static void rs_gen_put_tags(rs_gen_out_t *out, rs_gen_rng_t *rng,
    const rs_gen_list_t *tags);
static uint64_t rs_gen_price(rs_gen_rng_t *rng, const rs_gen_category_t *cat);
static void rs_gen_put_item(rs_gen_out_t *out, rs_gen_rng_t *rng,
    const rs_gen_category_t *cat, uint64_t id);


#define rs_gen_put_lit(out, s)     rs_gen_put(out, s, sizeof(s) - 1)


int
rs_gen_catalog(uint64_t n, uint64_t seed, rs_gen_write_pt write, void *data)
{
    size_t         c;
    uint32_t       total, r;
    uint64_t       i;
    rs_gen_rng_t   rng;
    rs_gen_out_t   out;

    if (write == NULL) {
        return -1;
    }

    total = 0;

    for (c = 0; c < RS_GEN_NCATEGORIES; c++) {
        total += rs_gen_categories[c].weight;
    }

    out.pos = out.buf;
    out.end = out.buf + sizeof(out.buf);
    out.write = write;
    out.data = data;
    out.overflow = 0;

    for (i = 0; i < n; i++) {

        /* chunks handed to write() always end on a line boundary */
        if ((size_t) (out.end - out.pos) < RS_GEN_LINE_MAX) {
            if (rs_gen_flush(&out) != 0) {
                return -1;
            }
        }

        rs_gen_rng_init(&rng, seed, i);

        r = rs_gen_range(&rng, total);

        for (c = 0; r >= rs_gen_categories[c].weight; c++) {
            r -= rs_gen_categories[c].weight;
        }

        rs_gen_put_item(&out, &rng, &rs_gen_categories[c], i + 1);

        if (out.overflow) {
            return -1;
        }
    }

    return rs_gen_flush(&out);
}


static void
rs_gen_put_item(rs_gen_out_t *out, rs_gen_rng_t *rng,
    const rs_gen_category_t *cat, uint64_t id)
{
    size_t          i;
    uint32_t        r;
    uint64_t        pop, count, rating, stock, t;
    rs_gen_item_t   it;

    it.cat = cat;
    it.brand = rs_gen_pick(rng, &cat->brands);
    it.model = rs_gen_pick(rng, &cat->models);
    it.adjective = rs_gen_pick(rng, &cat->adjectives);
    it.noun = rs_gen_pick(rng, &cat->nouns);
    it.variant = rs_gen_pick(rng, &cat->variants);
    it.number = 2 + rs_gen_range(rng, 13);
    it.material = rs_gen_range(rng, (uint32_t) cat->materials.n);
    it.use = rs_gen_range(rng, (uint32_t) cat->uses.n);
    it.feature = rs_gen_range(rng, (uint32_t) cat->features.n);

    rs_gen_put_lit(out, "{\"id\":\"SKU-");
    rs_gen_put_uint(out, id, 6);

    rs_gen_put_lit(out, "\",\"title\":\"");
    rs_gen_put_fmt(out, &it, cat->title, 0);

    rs_gen_put_lit(out, "\",\"description\":\"");
    rs_gen_put_description(out, rng, &it);

    rs_gen_put_lit(out, "\",\"brand\":\"");
    rs_gen_put_str(out, it.brand);

    rs_gen_put_lit(out, "\",\"category\":\"");
    rs_gen_put_str(out, cat->path);

    rs_gen_put_lit(out, "\",\"price\":");
    rs_gen_put_fixed(out, rs_gen_price(rng, cat), 2);

    rs_gen_put_lit(out, ",\"currency\":\"USD\"");

    /* 5% unknown (field absent), 10% sold out, the rest mostly low */
    r = rs_gen_range(rng, 100);

    if (r >= 5) {
        stock = 0;

        if (r >= 15) {
            t = rs_gen_range(rng, 1000);
            stock = 1 + t * t / 2000;
        }

        rs_gen_put_lit(out, ",\"stock\":");
        rs_gen_put_uint(out, stock, 0);
    }

    /*
     * Pareto with alpha 1 (P(pop > x) ~ 25 / (x + 25)): a handful of hits
     * and a long tail, ~4% of items never viewed.
     */
    pop = ((uint64_t) 25 << 24) / (rs_gen_range(rng, 1 << 24) + 1) - 25;

    count = pop * rs_gen_range(rng, 31) / 100;

    if (count > 0) {
        /* the product of two uniforms piles up near 0: ratings skew high */
        rating = 50 - (uint64_t) rs_gen_range(rng, 41) * rs_gen_range(rng, 41)
                      / 40;

        if (count == 1) {
            /* a single review has a whole-star average */
            rating = (rating + 5) / 10 * 10;
        }

        rs_gen_put_lit(out, ",\"rating\":");
        rs_gen_put_fixed(out, rating, 1);
    }

    rs_gen_put_lit(out, ",\"rating_count\":");
    rs_gen_put_uint(out, count, 0);

    rs_gen_put_lit(out, ",\"popularity\":");
    rs_gen_put_uint(out, pop, 0);

    rs_gen_put_lit(out, ",\"margin\":");
    rs_gen_put_fixed(out, cat->margin_min
                          + rs_gen_range(rng, cat->margin_max
                                              - cat->margin_min + 1), 2);

    /* the minimum of two draws favours recent items, as catalogs grow */
    t = rs_gen_range(rng, RS_GEN_WINDOW);
    r = rs_gen_range(rng, RS_GEN_WINDOW);

    if (r < t) {
        t = r;
    }

    rs_gen_put_lit(out, ",\"created_at\":\"");
    rs_gen_put_time(out, RS_GEN_REF_TIME - 1 - t);

    rs_gen_put_lit(out, "\",\"url\":\"" RS_GEN_URL_PREFIX "SKU-");
    rs_gen_put_uint(out, id, 6);

    rs_gen_put_lit(out, "\",\"image\":\"" RS_GEN_IMAGE_PREFIX "SKU-");
    rs_gen_put_uint(out, id, 6);

    rs_gen_put_lit(out, ".jpg\",\"tags\":");
    rs_gen_put_tags(out, rng, &cat->tags);

    for (i = 0; i < sizeof(cat->attrs) / sizeof(cat->attrs[0]); i++) {

        if (cat->attrs[i].name == NULL) {
            continue;
        }

        rs_gen_put_lit(out, ",\"");
        rs_gen_put_str(out, cat->attrs[i].name);
        rs_gen_put_lit(out, "\":");

        if (cat->attrs[i].number) {
            rs_gen_put_str(out, rs_gen_pick(rng, &cat->attrs[i].values));

        } else {
            rs_gen_put_lit(out, "\"");
            rs_gen_put_str(out, rs_gen_pick(rng, &cat->attrs[i].values));
            rs_gen_put_lit(out, "\"");
        }
    }

    rs_gen_put_lit(out, "}\n");
}


static void
rs_gen_put_description(rs_gen_out_t *out, rs_gen_rng_t *rng,
    rs_gen_item_t *it)
{
    size_t                i, k, idx[RS_GEN_MAX_SHUFFLE];
    const rs_gen_list_t  *sentences;

    sentences = it->cat->sentences.n ? &it->cat->sentences
                                     : &rs_gen_default_sentences;

    k = rs_gen_shuffle(rng, idx, sentences->n,
                       1 + rs_gen_range(rng, RS_GEN_MAX_SENTENCES));

    for (i = 0; i < k; i++) {

        if (i > 0) {
            rs_gen_put_lit(out, " ");
        }

        rs_gen_put_fmt(out, it, sentences->v[idx[i]], 1);
    }
}


static void
rs_gen_put_tags(rs_gen_out_t *out, rs_gen_rng_t *rng,
    const rs_gen_list_t *tags)
{
    size_t  i, k, idx[RS_GEN_MAX_SHUFFLE];

    k = rs_gen_shuffle(rng, idx, tags->n,
                       1 + rs_gen_range(rng, RS_GEN_MAX_TAGS));

    rs_gen_put_lit(out, "[");

    for (i = 0; i < k; i++) {

        if (i > 0) {
            rs_gen_put_lit(out, ",");
        }

        rs_gen_put_lit(out, "\"");
        rs_gen_put_str(out, tags->v[idx[i]]);
        rs_gen_put_lit(out, "\"");
    }

    rs_gen_put_lit(out, "]");
}


/*
 * Expands a title or sentence format; "lower" lowercases the adjective
 * and noun so that they read naturally inside a sentence.
 */

static void
rs_gen_put_fmt(rs_gen_out_t *out, rs_gen_item_t *it, const char *fmt,
    int lower)
{
    size_t                    *cursor;
    const char                *p, *s;
    const rs_gen_list_t       *bank;
    const rs_gen_category_t   *cat;

    cat = it->cat;

    for (p = fmt; *p; p++) {

        if (*p != '%' || p[1] == '\0') {
            for (s = p; p[1] != '\0' && p[1] != '%'; p++) {
                /* void */
            }

            rs_gen_put_esc(out, s, (size_t) (p - s) + 1, 0);
            continue;
        }

        bank = NULL;
        cursor = NULL;
        s = NULL;

        switch (*++p) {

        case 'b':
            s = it->brand;
            break;

        case 'm':
            s = it->model;
            break;

        case 'v':
            s = it->variant;
            break;

        case 'a':
            rs_gen_put_esc(out, it->adjective, strlen(it->adjective), lower);
            break;

        case 'n':
            rs_gen_put_esc(out, it->noun, strlen(it->noun), lower);
            break;

        case 'd':
            rs_gen_put_uint(out, it->number, 0);
            break;

        case 'M':
            bank = &cat->materials;
            cursor = &it->material;
            break;

        case 'U':
            bank = &cat->uses;
            cursor = &it->use;
            break;

        case 'F':
            bank = &cat->features;
            cursor = &it->feature;
            break;

        default:
            rs_gen_put_esc(out, p - 1, 2, 0);
            break;
        }

        if (bank != NULL && bank->n > 0) {
            s = bank->v[*cursor % bank->n];
            (*cursor)++;
        }

        if (s != NULL) {
            rs_gen_put_str(out, s);
        }
    }
}


static uint64_t
rs_gen_price(rs_gen_rng_t *rng, const rs_gen_category_t *cat)
{
    uint32_t  r;
    uint64_t  p, steps, k, t, cents, dollars;

    steps = 0;

    for (p = (uint64_t) cat->price_min << 16;
         (p >> 16) < cat->price_max;
         p = p * RS_GEN_PRICE_STEP >> 16)
    {
        steps++;
    }

    /*
     * An Irwin-Hall bell over a geometric grid is a bell in log space:
     * roughly log-normal, clipped to the category's range.
     */
    t = (uint64_t) rs_gen_range(rng, 65536) + rs_gen_range(rng, 65536)
        + rs_gen_range(rng, 65536);
    k = t * steps / (3 * 65536);

    p = (uint64_t) cat->price_min << 16;

    while (k--) {
        p = p * RS_GEN_PRICE_STEP >> 16;
    }

    /* up to 2% of jitter hides the grid */
    p = p * (65536 + rs_gen_range(rng, 1311)) >> 16;
    cents = p >> 16;

    /* retail price endings: 7.99, 79.99, 129.95, 1299.00 */
    dollars = cents / 100;
    r = rs_gen_range(rng, 100);

    if (dollars < 10) {
        return dollars * 100 + (r < 60 ? 99 : (r < 80 ? 49 : 95));
    }

    if (dollars < 1000) {
        if (dollars >= 20) {
            dollars = dollars / 10 * 10 + 9;
        }

        return dollars * 100 + (r < 70 ? 99 : (r < 85 ? 95 : 0));
    }

    dollars = dollars / 100 * 100 + 99;

    return dollars * 100 + (r < 50 ? 0 : 99);
}


static uint64_t
rs_gen_mix(uint64_t z)
{
    /* splitmix64 finalizer: a bijection with full avalanche */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


static void
rs_gen_rng_init(rs_gen_rng_t *rng, uint64_t seed, uint64_t index)
{
    int       i;
    uint64_t  x;

    /*
     * A stream per item: an item depends on (seed, index) only, so any
     * item can be produced without its predecessors.  The state words
     * are distinct outputs of a bijection, so they are never all zero.
     */
    x = rs_gen_mix(rs_gen_mix(seed) + index);

    for (i = 0; i < 4; i++) {
        x += 0x9e3779b97f4a7c15ULL;
        rng->s[i] = rs_gen_mix(x);
    }
}


static uint64_t
rs_gen_next(rs_gen_rng_t *rng)
{
    uint64_t  *s, r, t;

    /* xoshiro256** */
    s = rng->s;

    r = s[1] * 5;
    r = ((r << 7) | (r >> 57)) * 9;
    t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);

    return r;
}


static uint32_t
rs_gen_range(rs_gen_rng_t *rng, uint32_t n)
{
    /* multiply-shift instead of modulo: no division, negligible bias */
    return (uint32_t) (((rs_gen_next(rng) >> 32) * n) >> 32);
}


static const char *
rs_gen_pick(rs_gen_rng_t *rng, const rs_gen_list_t *list)
{
    if (list->n == 0) {
        return "";
    }

    return list->v[rs_gen_range(rng, (uint32_t) list->n)];
}


/* partial Fisher-Yates: the first k of idx[] become distinct indices < n */

static size_t
rs_gen_shuffle(rs_gen_rng_t *rng, size_t *idx, size_t n, size_t k)
{
    size_t  i, j, tmp;

    if (n > RS_GEN_MAX_SHUFFLE) {
        n = RS_GEN_MAX_SHUFFLE;
    }

    if (k > n) {
        k = n;
    }

    for (i = 0; i < n; i++) {
        idx[i] = i;
    }

    for (i = 0; i < k; i++) {
        j = i + rs_gen_range(rng, (uint32_t) (n - i));
        tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }

    return k;
}


static int
rs_gen_flush(rs_gen_out_t *out)
{
    size_t  len;

    len = (size_t) (out->pos - out->buf);
    out->pos = out->buf;

    if (len == 0) {
        return 0;
    }

    return out->write(out->data, out->buf, len) == 0 ? 0 : -1;
}


static void
rs_gen_put(rs_gen_out_t *out, const char *s, size_t len)
{
    if ((size_t) (out->end - out->pos) < len) {
        out->overflow = 1;
        return;
    }

    memcpy(out->pos, s, len);
    out->pos += len;
}


/*
 * JSON string escaping.  The banks are trusted constants, yet escaping
 * everything keeps the output valid whatever they are edited into.
 * With "lower", a word (or hyphenated part) loses its leading capital
 * unless it looks like an acronym: "Running Shoes" -> "running shoes",
 * "T-Shirt" -> "t-shirt", but "4K", "TV", "SPF 30" are kept.
 */

static void
rs_gen_put_esc(rs_gen_out_t *out, const char *s, size_t len, int lower)
{
    int                  start;
    unsigned char        c, next;
    const char          *end;
    static const char    hex[] = "0123456789abcdef";

    start = 1;

    for (end = s + len; s < end; s++) {

        if (out->end - out->pos < 6) {
            out->overflow = 1;
            return;
        }

        c = (unsigned char) *s;
        next = (s + 1 < end) ? (unsigned char) s[1] : '\0';

        if (lower && start && c >= 'A' && c <= 'Z'
            && !(next >= 'A' && next <= 'Z')
            && !(next >= '0' && next <= '9'))
        {
            c = (unsigned char) (c - 'A' + 'a');
        }

        start = (c == ' ' || c == '-');

        switch (c) {

        case '"':
        case '\\':
            *out->pos++ = '\\';
            *out->pos++ = (char) c;
            break;

        case '\n':
            *out->pos++ = '\\';
            *out->pos++ = 'n';
            break;

        case '\t':
            *out->pos++ = '\\';
            *out->pos++ = 't';
            break;

        default:
            if (c < 0x20) {
                *out->pos++ = '\\';
                *out->pos++ = 'u';
                *out->pos++ = '0';
                *out->pos++ = '0';
                *out->pos++ = hex[c >> 4];
                *out->pos++ = hex[c & 0xf];

            } else {
                *out->pos++ = (char) c;
            }

            break;
        }
    }
}


static void
rs_gen_put_str(rs_gen_out_t *out, const char *s)
{
    rs_gen_put_esc(out, s, strlen(s), 0);
}


static void
rs_gen_put_uint(rs_gen_out_t *out, uint64_t v, unsigned width)
{
    char  buf[24], *p, *last;

    last = buf + sizeof(buf);
    p = last;

    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    while ((size_t) (last - p) < width && p > buf) {
        *--p = '0';
    }

    rs_gen_put(out, p, (size_t) (last - p));
}


/* v is scaled by 10^frac; always prints frac decimals: 79.99, 1299.00 */

static void
rs_gen_put_fixed(rs_gen_out_t *out, uint64_t v, unsigned frac)
{
    unsigned  i;
    uint64_t  scale;

    scale = 1;

    for (i = 0; i < frac; i++) {
        scale *= 10;
    }

    rs_gen_put_uint(out, v / scale, 0);
    rs_gen_put_lit(out, ".");
    rs_gen_put_uint(out, v % scale, frac);
}


/* ISO 8601 UTC without gmtime(): no locale, no TZ, no 32-bit time_t */

static void
rs_gen_put_time(rs_gen_out_t *out, uint64_t t)
{
    uint64_t  days, secs, era, doe, yoe, doy, mp, y, m, d;

    days = t / 86400;
    secs = t % 86400;

    /* civil_from_days() by H. Hinnant, for days since 1970-01-01 >= 0 */
    days += 719468;
    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = (mp < 10) ? mp + 3 : mp - 9;
    y += (m <= 2);

    rs_gen_put_uint(out, y, 4);
    rs_gen_put_lit(out, "-");
    rs_gen_put_uint(out, m, 2);
    rs_gen_put_lit(out, "-");
    rs_gen_put_uint(out, d, 2);
    rs_gen_put_lit(out, "T");
    rs_gen_put_uint(out, secs / 3600, 2);
    rs_gen_put_lit(out, ":");
    rs_gen_put_uint(out, secs / 60 % 60, 2);
    rs_gen_put_lit(out, ":");
    rs_gen_put_uint(out, secs % 60, 2);
    rs_gen_put_lit(out, "Z");
}
