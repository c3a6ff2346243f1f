// Package lang picks the language of a user-facing text: Korean first,
// English as the second language (the people Dangol serves are Korean
// market merchants and their customers).
package lang

import (
	"strconv"
	"strings"
)

// Pick returns "en" if accept, an Accept-Language header or a single tag
// such as a client's "lang" field, prefers English to Korean by its
// q-values, and "ko" otherwise: when it names neither, or prefers Korean.
func Pick(accept string) string {
	best, bestQ := "ko", -1.0
	for part := range strings.SplitSeq(accept, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		l, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if (l == "ko" || l == "en") && q > bestQ && q > 0 {
			best, bestQ = l, q
		}
	}
	return best
}
