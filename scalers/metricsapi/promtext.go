package metricsapi

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// selector is a PromQL instant vector selector: a metric name and label
// matchers, as in queue_length{queue="jobs",env!="dev"}.
type selector struct {
	name     string
	matchers []matcher
}

type matcher struct {
	label, op, value string
	re               *regexp.Regexp // for =~ and !~
}

// matches applies PromQL semantics: a label that is absent has the value
// "", and regular expressions match the whole value.
func (m matcher) matches(v string) bool {
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default: // "!~"
		return !m.re.MatchString(v)
	}
}

// parseSelector parses valueLocation of the prometheus format.
func parseSelector(s string) (selector, error) {
	p := selParser{in: s}
	sel, err := p.parse()
	if err != nil {
		return selector{}, fmt.Errorf("not a metric selector such as queue_length{queue=\"jobs\"}: %w", err)
	}
	return sel, nil
}

type selParser struct {
	in  string
	pos int
}

func (p *selParser) skipSpace() {
	for p.pos < len(p.in) && strings.IndexByte(" \t\r\n", p.in[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *selParser) peek() byte {
	if p.pos < len(p.in) {
		return p.in[p.pos]
	}
	return 0
}

func (p *selParser) errf(format string, args ...any) error {
	return fmt.Errorf("at position %d: %s", p.pos+1, fmt.Sprintf(format, args...))
}

func isNameStart(c byte, colon bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (colon && c == ':')
}

func isNameChar(c byte, colon bool) bool {
	return isNameStart(c, colon) || (c >= '0' && c <= '9')
}

// ident reads a metric name (colon allowed) or a label name.
func (p *selParser) ident(colon bool) string {
	start := p.pos
	if p.pos < len(p.in) && isNameStart(p.in[p.pos], colon) {
		p.pos++
		for p.pos < len(p.in) && isNameChar(p.in[p.pos], colon) {
			p.pos++
		}
	}
	return p.in[start:p.pos]
}

func (p *selParser) parse() (selector, error) {
	var sel selector
	p.skipSpace()
	sel.name = p.ident(true)
	p.skipSpace()
	if p.peek() == '{' {
		p.pos++
		for {
			p.skipSpace()
			if p.peek() == '}' {
				p.pos++
				break
			}
			m, err := p.matcher()
			if err != nil {
				return selector{}, err
			}
			if m.label == model.MetricNameLabel {
				if m.op != "=" {
					return selector{}, errors.New("the metric name (__name__) must be matched with =")
				}
				if sel.name != "" && sel.name != m.value {
					return selector{}, errors.New("the metric name is given twice")
				}
				sel.name = m.value
			} else {
				sel.matchers = append(sel.matchers, m)
			}
			p.skipSpace()
			switch p.peek() {
			case ',':
				p.pos++
			case '}':
			default:
				return selector{}, p.errf("expected , or }")
			}
		}
		p.skipSpace()
	}
	if p.pos != len(p.in) {
		return selector{}, p.errf("unexpected %s", scalers.Quote(p.in[p.pos:]))
	}
	if sel.name == "" {
		return selector{}, errors.New("no metric name")
	}
	return sel, nil
}

func (p *selParser) matcher() (matcher, error) {
	var m matcher
	m.label = p.ident(false)
	if m.label == "" {
		return m, p.errf("expected a label name")
	}
	p.skipSpace()
	for _, op := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(p.in[p.pos:], op) {
			m.op = op
			p.pos += len(op)
			break
		}
	}
	if m.op == "" {
		return m, p.errf("expected =, !=, =~ or !~ after %s", m.label)
	}
	p.skipSpace()
	v, err := p.str()
	if err != nil {
		return m, err
	}
	m.value = v
	if m.op == "=~" || m.op == "!~" {
		re, err := regexp.Compile("^(?s:" + v + ")$")
		if err != nil {
			return m, fmt.Errorf("label %s: bad regular expression: %s", scalers.Excerpt(m.label), scalers.Excerpt(err.Error()))
		}
		m.re = re
	}
	return m, nil
}

// str reads a PromQL string literal: "double" or 'single' quoted with Go
// escapes, or `raw`.
func (p *selParser) str() (string, error) {
	q := p.peek()
	if q != '"' && q != '\'' && q != '`' {
		return "", p.errf("expected a quoted string")
	}
	start := p.pos
	p.pos++
	for p.pos < len(p.in) {
		c := p.in[p.pos]
		if c == '\\' && q != '`' {
			p.pos += 2
			continue
		}
		p.pos++
		if c == q {
			lit := p.in[start:p.pos]
			switch q {
			case '`':
				return lit[1 : len(lit)-1], nil
			case '\'':
				// Turn 'x' into "x" for strconv: \' needs no escape there,
				// a bare " does.
				inner := strings.ReplaceAll(lit[1:len(lit)-1], `\'`, `'`)
				inner = strings.ReplaceAll(inner, `"`, `\"`)
				lit = `"` + inner + `"`
			}
			v, err := strconv.Unquote(lit)
			if err != nil || !utf8.ValidString(v) {
				return "", fmt.Errorf("at position %d: invalid string %s", start+1, lit)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("at position %d: unterminated string", start+1)
}

// promLocator finds the first series of the text exposition format that
// the selector matches, as KEDA does.
type promLocator struct {
	loc string
	sel selector
}

func (l promLocator) value(body []byte) (float64, error) {
	// The parser wants a final newline and no carriage returns.
	text := bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	if len(text) > 0 && text[len(text)-1] != '\n' {
		text = append(text, '\n')
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		return 0, malformed(FormatPrometheus, err)
	}
	fam, ok := families[l.sel.name]
	if !ok {
		return 0, noValue(l.loc, "metric %s not found in the answer", l.sel.name)
	}
	for _, m := range fam.GetMetric() {
		if !l.matches(m) {
			continue
		}
		switch {
		case m.GetGauge() != nil:
			return finite(l.loc, m.GetGauge().GetValue())
		case m.GetCounter() != nil:
			return finite(l.loc, m.GetCounter().GetValue())
		case m.GetUntyped() != nil:
			return finite(l.loc, m.GetUntyped().GetValue())
		}
		return 0, noValue(l.loc, "metric %s is a %s, expected a gauge, counter or untyped metric",
			l.sel.name, strings.ToLower(fam.GetType().String()))
	}
	return 0, noValue(l.loc, "no series of %s matches the label matchers (%d series)", l.sel.name, len(fam.GetMetric()))
}

func (l promLocator) matches(m *dto.Metric) bool {
	for _, mt := range l.sel.matchers {
		v := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == mt.label {
				v = lp.GetValue()
				break
			}
		}
		if !mt.matches(v) {
			return false
		}
	}
	return true
}
