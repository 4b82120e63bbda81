package synth_test

import (
	"fmt"

	"github.com/csad-go/csad/csad/synth"
)

func Example() {
	for _, c := range synth.Categories() {
		rule, err := synth.Rule(c)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", c, rule)
	}
	// A logical anomaly breaks the rule; its scene says how.
	opt := synth.DefaultOptions()
	im, err := synth.Render("tray", opt, "test", synth.Logical, 0)
	if err != nil {
		panic(err)
	}
	fmt.Println(im.Defect, im.Scene.Violations())
	// Output:
	// box: a breakfast box: left half two oranges and one nectarine, right half granola with 20–40 % almonds
	// connectors: two splicing connectors with the same pin count k joined at the same pin by a cable whose colour depends on k (2 yellow, 3 blue, 5 red)
	// tray: a tray with 3×2 compartments, exactly one pushpin in each compartment
	// missing_item [compartment 1 holds 0 pushpins, want 1]
}
