package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/cachekit/cachekit/cacheenv"
)

// stack is template.yaml as CloudFormation would create it for one set of parameters: the
// intrinsic functions worked out, the resources and outputs whose condition is false left
// out, then read by goformation into the typed resources of the CloudFormation resource
// specification, which refuses a property it does not know or of the wrong type.
//
// goformation's own intrinsic processing resolves a Ref to a parameter's default only and
// leaves conditions unevaluated, so a stack works them out itself: Ref, Fn::GetAtt, Fn::Sub,
// Fn::Join, Fn::Split, Fn::If and the condition functions, the ones the template uses. A reference to
// a resource, which only a deployment knows, becomes the physical ID given in created, else
// goformation's own encoding of the reference (cloudformation.Ref, cloudformation.GetAtt),
// which a test compares with.
type stack struct {
	*cloudformation.Template
	params     map[string]any  // every parameter's value: given, else its default
	conditions map[string]bool // every condition's value for those parameters
	resolved   map[string]any  // the template that goformation read
}

// The pseudo parameters' values in a stack; the region is the one the tests' AWS SDK uses.
var pseudo = map[string]any{
	"AWS::AccountId": "123456789012",
	"AWS::Partition": "aws",
	"AWS::Region":    "us-east-1",
	"AWS::StackName": "lambda-geo",
	"AWS::URLSuffix": "amazonaws.com",
}

// noValue stands for AWS::NoValue until the property or list element it is in is removed.
type noValue struct{}

// resolver works out a template's intrinsic functions; see stack.
type resolver struct {
	t             *testing.T
	resources     map[string]any
	params        map[string]any
	conditions    map[string]bool // those worked out so far
	conditionDefs map[string]any
	created       map[string]string // "Name" or "Name.Attribute": a deployment's value
}

// newStack reads template.yaml with params (parameter name to value; a list parameter's
// value is a []any) and created (a resource's Ref or "Resource.Attribute" to its value).
func newStack(t *testing.T, params map[string]any, created map[string]string) *stack {
	t.Helper()
	data, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// goformation's YAML reader, with the short forms (!Ref, !If ...) turned into long ones.
	long, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(long, &doc); err != nil {
		t.Fatal(err)
	}
	r := &resolver{t: t, resources: object(t, doc, "Resources"), params: map[string]any{},
		conditions: map[string]bool{}, conditionDefs: object(t, doc, "Conditions"), created: created}

	for name, p := range object(t, doc, "Parameters") {
		p := p.(map[string]any)
		v, ok := params[name]
		if !ok {
			if v, ok = p["Default"]; !ok {
				t.Fatalf("parameter %s has no default and no value was given", name)
			}
			if p["Type"] == "CommaDelimitedList" {
				v = split(v.(string))
			}
		}
		r.params[name] = v
	}
	for name := range params {
		if _, ok := r.params[name]; !ok {
			t.Fatalf("the template has no parameter %s", name)
		}
	}
	for name := range r.conditionDefs {
		r.condition(map[string]any{"Condition": name})
	}

	for _, section := range []string{"Resources", "Outputs"} {
		for name, v := range object(t, doc, section) {
			if c, ok := v.(map[string]any)["Condition"].(string); ok && !r.condition(map[string]any{"Condition": c}) {
				delete(doc[section].(map[string]any), name)
			}
		}
	}
	delete(doc, "Conditions")
	resolved := r.resolve(doc).(map[string]any)
	b, err := json.Marshal(resolved)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := goformation.ParseJSONWithOptions(b, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("goformation: %v", err)
	}
	return &stack{Template: tmpl, params: r.params, conditions: r.conditions, resolved: resolved}
}

// properties returns the resolved Properties of the resource name, as JSON values.
func (s *stack) properties(t *testing.T, name string) map[string]any {
	t.Helper()
	res, ok := s.resolved["Resources"].(map[string]any)[name].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	props, _ := res["Properties"].(map[string]any)
	return props
}

// environment returns the function's environment variables, as NAME=VALUE.
func (s *stack) environment(t *testing.T) []string {
	t.Helper()
	fn, err := s.GetLambdaFunctionWithName("Function")
	if err != nil {
		t.Fatal(err)
	}
	if fn.Environment == nil {
		t.Fatal("the function has no environment")
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(fn.Environment.Variables)) {
		env = append(env, k+"="+fn.Environment.Variables[k])
	}
	return env
}

// config returns the configuration cacheenv reads from the function's environment.
func (s *stack) config(t *testing.T) cacheenv.Config {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range s.environment(t) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	cfg, err := cacheenv.LoadFrom(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	if err != nil {
		t.Fatalf("cacheenv refuses the function's environment %v: %v", vars, err)
	}
	return cfg
}

func object(t *testing.T, doc map[string]any, key string) map[string]any {
	t.Helper()
	if doc[key] == nil {
		return nil
	}
	m, ok := doc[key].(map[string]any)
	if !ok {
		t.Fatalf("the template's %s is not a map", key)
	}
	return m
}

func split(s string) []any {
	var l []any
	for _, e := range strings.Split(s, ",") {
		l = append(l, e)
	}
	return l
}

// resolve returns v with its intrinsic functions worked out and AWS::NoValue taken out.
func (r *resolver) resolve(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if len(v) == 1 {
			for fn, arg := range v {
				if strings.HasPrefix(fn, "Fn::") || fn == "Ref" {
					return r.function(fn, arg)
				}
			}
		}
		out := map[string]any{}
		for k, e := range v {
			if e := r.resolve(e); e != (noValue{}) {
				out[k] = e
			}
		}
		return out
	case []any:
		out := []any{}
		for _, e := range v {
			if e := r.resolve(e); e != (noValue{}) {
				out = append(out, e)
			}
		}
		return out
	default:
		return v
	}
}

func (r *resolver) function(fn string, arg any) any {
	switch fn {
	case "Ref":
		return r.ref(arg.(string))
	case "Fn::GetAtt":
		var res, attr string
		switch a := arg.(type) {
		case string:
			res, attr, _ = strings.Cut(a, ".")
		case []any:
			res, attr = a[0].(string), a[1].(string)
		}
		return r.getAtt(res, attr)
	case "Fn::If":
		a := arg.([]any)
		if r.condition(map[string]any{"Condition": a[0]}) {
			return r.resolve(a[1])
		}
		return r.resolve(a[2])
	case "Fn::Join":
		a := arg.([]any)
		var parts []string
		for _, e := range r.resolve(a[1]).([]any) {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, a[0].(string))
	case "Fn::Split":
		a := arg.([]any)
		var parts []any
		for _, e := range strings.Split(r.resolve(a[1]).(string), a[0].(string)) {
			parts = append(parts, e)
		}
		return parts
	case "Fn::Sub":
		return r.sub(arg)
	}
	r.t.Fatalf("the template uses %s, which the test does not work out", fn)
	return nil
}

func (r *resolver) ref(name string) any {
	if name == "AWS::NoValue" {
		return noValue{}
	}
	if v, ok := pseudo[name]; ok {
		return v
	}
	if v, ok := r.params[name]; ok {
		return v
	}
	if _, ok := r.resources[name]; !ok {
		r.t.Fatalf("Ref to %s, which is neither a parameter nor a resource", name)
	}
	if v, ok := r.created[name]; ok {
		return v
	}
	return cloudformation.Ref(name)
}

func (r *resolver) getAtt(res, attr string) any {
	if _, ok := r.resources[res]; !ok {
		r.t.Fatalf("Fn::GetAtt of %s.%s: no resource %s", res, attr, res)
	}
	if v, ok := r.created[res+"."+attr]; ok {
		return v
	}
	return cloudformation.GetAtt(res, attr)
}

var subVariable = regexp.MustCompile(`\$\{([^}]*)\}`)

// sub works out Fn::Sub: ${Parameter}, ${AWS::Pseudo}, ${Resource}, ${Resource.Attribute}
// and ${!Literal}. A reference to a resource that created does not name stays as it is.
func (r *resolver) sub(arg any) any {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		s = a[0].(string)
		for k, v := range a[1].(map[string]any) {
			vars[k] = r.resolve(v)
		}
	}
	return subVariable.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if lit, ok := strings.CutPrefix(name, "!"); ok {
			return "${" + lit + "}"
		}
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		if v, ok := r.created[name]; ok {
			return v
		}
		res, _, isAtt := strings.Cut(name, ".")
		if _, ok := r.resources[res]; ok {
			return m
		}
		if isAtt {
			r.t.Fatalf("Fn::Sub refers to %s: no resource %s", name, res)
		}
		v := r.ref(name)
		if _, ok := v.([]any); ok {
			r.t.Fatalf("Fn::Sub refers to %s, a list", name)
		}
		return fmt.Sprint(v)
	})
}

// condition evaluates a condition: Fn::Equals, Fn::Not, Fn::And, Fn::Or, or the name of
// another condition.
func (r *resolver) condition(c any) bool {
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		r.t.Fatalf("not a condition: %v", c)
	}
	for fn, arg := range m {
		switch fn {
		case "Condition":
			name := arg.(string)
			if v, ok := r.conditions[name]; ok {
				return v
			}
			def, ok := r.conditionDefs[name]
			if !ok {
				r.t.Fatalf("no condition %s", name)
			}
			r.conditions[name] = r.condition(def)
			return r.conditions[name]
		case "Fn::Equals":
			a := arg.([]any)
			return fmt.Sprint(r.resolve(a[0])) == fmt.Sprint(r.resolve(a[1]))
		case "Fn::Not":
			return !r.condition(arg.([]any)[0])
		case "Fn::And", "Fn::Or":
			var vs []bool
			for _, e := range arg.([]any) {
				vs = append(vs, r.condition(e))
			}
			if fn == "Fn::And" {
				return !slices.Contains(vs, false)
			}
			return slices.Contains(vs, true)
		}
	}
	r.t.Fatalf("not a condition: %v", c)
	return false
}
