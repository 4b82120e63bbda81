package externaltest_test

import (
	"fmt"

	"github.com/csad-go/csad/internal/externaltest"
)

// The go.mod of a program that uses csad-go from a private fork checked out at /src/csad.
func ExampleGoMod() {
	fmt.Print(externaltest.GoMod("example.com/inspection", "/src/csad"))
	// Output:
	// module example.com/inspection
	//
	// go 1.26
	//
	// require github.com/csad-go/csad v0.0.0
	//
	// replace github.com/csad-go/csad => /src/csad
}
