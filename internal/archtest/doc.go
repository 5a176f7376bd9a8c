// Package archtest holds the tests of the architecture's rules that no single package can
// check by itself: which packages may import what.
package archtest
