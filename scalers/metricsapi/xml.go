package metricsapi

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// xmlLocator walks a dot-separated path of element names from the root
// element: <stats><queue><length>5</length></queue></stats> has
// stats.queue.length = 5. When an element name repeats among siblings, the
// segment after it is the index of the one meant (stats.queue.1.length).
type xmlLocator struct {
	loc  string
	segs []string
}

// xmlNode is an element: its local name, its child elements and its own
// character data.
type xmlNode struct {
	name     string
	children []*xmlNode
	text     strings.Builder
}

// maxXMLDepth bounds nesting; deeper answers are rejected rather than
// walked.
const maxXMLDepth = 256

// parseXML builds the element tree of a document. Attributes, comments and
// processing instructions are ignored; names lose their namespace prefix.
func parseXML(body []byte) (*xmlNode, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	doc := &xmlNode{}
	stack := []*xmlNode{doc}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		top := stack[len(stack)-1]
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 1 && len(doc.children) == 1 {
				return nil, errors.New("more than one root element")
			}
			if len(stack) > maxXMLDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", maxXMLDepth)
			}
			n := &xmlNode{name: t.Name.Local}
			top.children = append(top.children, n)
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 1 {
				top.text.Write(t)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, errors.New("text outside the root element")
			}
		}
	}
	if len(doc.children) == 0 {
		return nil, errors.New("no root element")
	}
	return doc, nil
}

func (l xmlLocator) value(body []byte) (float64, error) {
	doc, err := parseXML(body)
	if err != nil {
		return 0, malformed(FormatXML, err)
	}
	cur := doc
	for i := 0; i < len(l.segs); i++ {
		seg := l.segs[i]
		at := strings.Join(l.segs[:i], ".")
		var matches []*xmlNode
		for _, c := range cur.children {
			if c.name == seg {
				matches = append(matches, c)
			}
		}
		if len(matches) == 0 {
			if i == 0 {
				return 0, noValue(l.loc, "the root element is <%s>, not <%s>", scalers.Excerpt(doc.children[0].name), scalers.Excerpt(seg))
			}
			return 0, noValue(l.loc, "no element <%s> under %s", scalers.Excerpt(seg), scalers.Quote(at))
		}
		// An index after a name picks one of its same-named siblings.
		if i+1 < len(l.segs) {
			if idx, err := strconv.Atoi(l.segs[i+1]); err == nil {
				if idx < 0 || idx >= len(matches) {
					return 0, noValue(l.loc, "index %d out of range, <%s> appears %d times%s", idx, scalers.Excerpt(seg), len(matches), xmlUnder(at))
				}
				cur = matches[idx]
				i++
				continue
			}
		}
		if len(matches) > 1 {
			return 0, noValue(l.loc, "<%s> appears %d times%s, add an index (e.g. %s.0)", scalers.Excerpt(seg), len(matches), xmlUnder(at), scalers.Excerpt(strings.Join(l.segs[:i+1], ".")))
		}
		cur = matches[0]
	}
	if len(cur.children) > 0 {
		return 0, noValue(l.loc, "is an element with child elements, expected a number or a quantity")
	}
	return parseNumber(l.loc, cur.text.String())
}

func xmlUnder(at string) string {
	if at == "" {
		return ""
	}
	return " under " + scalers.Quote(at)
}
