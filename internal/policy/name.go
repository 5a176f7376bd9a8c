package policy

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// MaxNameKeyBytes bounds the normalised form of a name (NameKey), which is part of a
// DynamoDB partition key (2048 bytes at most): NFKC can make one character eighteen.
const MaxNameKeyBytes = 1024

// folder is the Unicode full case folding; a cases.Caser keeps state, so each use takes a
// fresh one (cases.Fold is cheap to build).
func folder() cases.Caser { return cases.Fold() }

// NameProblem returns why name cannot be the name of something (a group, a username), or ""
// for a good name. A name must be UTF-8, not blank, and free of characters that cannot be
// seen: control characters (Unicode category Cc), format characters (Cf: U+200B zero width
// space, U+200D joiner, U+2060 word joiner, U+FEFF, the bidirectional controls…), variation
// selectors and the other default-ignorable code points (U+3164 Hangul filler…), private-use
// characters and lone surrogates. Without them, two names that look alike have the same
// NameKey, so uniqueness by NameKey is uniqueness as people read names.
func NameProblem(name string) string {
	if !utf8.ValidString(name) {
		return "must be UTF-8 text"
	}
	if strings.TrimFunc(name, unicode.IsSpace) == "" {
		return "must not be empty"
	}
	for _, r := range name {
		if r == ' ' || !invisible(r) {
			continue
		}
		switch {
		case unicode.Is(unicode.Cc, r):
			return fmt.Sprintf("must not contain control characters (found U+%04X)", r)
		case r == utf8.RuneError:
			return "must not contain U+FFFD (what replaces bytes that are not UTF-8)"
		case unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("must not contain invisible format characters (found U+%04X)", r)
		default:
			return fmt.Sprintf("must not contain invisible or private-use characters (found U+%04X)", r)
		}
	}
	if len(NameKey(name)) > MaxNameKeyBytes {
		return fmt.Sprintf("is too long once normalised (NFKC): more than %d bytes", MaxNameKeyBytes)
	}
	return ""
}

// invisible reports whether r is a character NameProblem refuses.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs,
		unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) ||
		r == utf8.RuneError
}

// NameKey is the form of a name that uniqueness is decided on: Unicode NFKC, full case
// folding, NFKC again (folding can denormalise), white space trimmed at both ends and every run
// of white space inside made one space. "Admins", " ADMINS ", "Ａｄｍｉｎｓ" (full-width) and
// "admins" are one name.
func NameKey(name string) string {
	k := norm.NFKC.String(name)
	k = folder().String(k)
	k = norm.NFKC.String(k)
	return strings.Join(strings.FieldsFunc(k, unicode.IsSpace), " ")
}
