// Package externaltest proves that csad-go works as a dependency: its test creates a module in
// a temporary folder outside this checkout, requires github.com/csad-go/csad through a replace
// directive (as a private fork would be required), builds a program that loads a model file and
// scores an image, and runs it with no environment beyond Go's own settings and the documented
// LibTorch variables. It then checks that the binary names LibTorch's shared libraries, nothing
// in the checkout, and that its scores are bit for bit the ones this process computes.
//
// The helpers here write the throwaway module; they are exported only for the test and its
// example.
package externaltest
