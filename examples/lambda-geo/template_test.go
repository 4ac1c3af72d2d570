package main

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"

	"github.com/cachekit/cachekit/cacheenv"
	"github.com/cachekit/cachekit/emf"
	"github.com/cachekit/cachekit/internal/testenv"
)

// deployments are the parameters the tests deploy template.yaml with, on paper: the default
// (DynamoDB, arm64, no alarm topic), the other architecture with a topic, and the Redis option.
var deployments = []struct {
	name   string
	params map[string]string
}{
	{"dynamodb", map[string]string{"CodeBucket": "artifacts", "CodeKey": "lambda-geo/1.zip"}},
	{"dynamodb-x86_64-topic", map[string]string{"CodeBucket": "artifacts", "CodeKey": "lambda-geo/1.zip",
		"Architecture": "x86_64", "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:ops", "CacheKeyPrefix": "geo-cache|",
		"ServiceName": "geo", "MetricsNamespace": "geo/cache", "L1MaxSize": ""}},
	{"redis", map[string]string{"CodeBucket": "artifacts", "CodeKey": "lambda-geo/1.zip",
		"Backend": "redis", "VpcId": "vpc-0123456789abcdef0", "SubnetIds": "subnet-0123456789abcdef0,subnet-0123456789abcdef1"}},
}

// created are what a deployment would make of the resources the environment names.
var created = map[string]string{
	"Table":                         "lambda-geo-Table-1A2B3C4D5E6F",
	"Redis.PrimaryEndPoint.Address": "master.lambda-geo.abc123.use1.cache.amazonaws.com",
	"Redis.PrimaryEndPoint.Port":    "6379",
}

func params(p map[string]string) map[string]any {
	m := map[string]any{}
	for k, v := range p {
		m[k] = v
	}
	return m
}

// TestTemplate reads template.yaml, as each deployment would create it, into goformation's
// typed resources, and checks what the function needs: the table and its TTL, the runtime and
// architecture, a role held to the cache's keys, the environment cacheenv reads, and the
// dashboard and alarms that package emf makes for the metrics the function writes.
func TestTemplate(t *testing.T) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			st := newStack(t, params(d.params), created)
			p := func(name string) string { return st.params[name].(string) }
			redis := p("Backend") == "redis"

			fn, err := st.GetLambdaFunctionWithName("Function")
			if err != nil {
				t.Fatal(err)
			}
			if got := deref(fn.Runtime); got != "provided.al2023" {
				t.Errorf("Runtime %q, want provided.al2023", got)
			}
			if got := deref(fn.Handler); got != "bootstrap" {
				t.Errorf("Handler %q, want bootstrap", got)
			}
			if want := []string{p("Architecture")}; !slices.Equal(fn.Architectures, want) {
				t.Errorf("Architectures %q, want %q", fn.Architectures, want)
			}
			if fn.Role != cloudformation.GetAtt("FunctionRole", "Arn") {
				t.Errorf("Role %q, want FunctionRole's ARN", fn.Role)
			}
			if fn.Code == nil || deref(fn.Code.S3Bucket) != p("CodeBucket") || deref(fn.Code.S3Key) != p("CodeKey") {
				t.Errorf("Code %+v, want CodeBucket and CodeKey", fn.Code)
			}

			checkEnvironment(t, st, redis)
			checkRole(t, st, redis)
			if redis {
				checkRedis(t, st, fn)
			} else {
				checkTable(t, st)
				if fn.VpcConfig != nil {
					t.Errorf("VpcConfig %+v without Redis", fn.VpcConfig)
				}
			}
			checkDashboardAndAlarms(t, st)
		})
	}
}

// checkEnvironment checks the function's variables: cacheenv's own, none that points the SDK
// elsewhere than AWS, and a configuration that Load accepts and that selects the backend.
func checkEnvironment(t *testing.T, st *stack, redis bool) {
	t.Helper()
	known := map[string]bool{}
	for _, v := range cacheenv.Variables() {
		known[v.Name] = true
	}
	vars := map[string]string{}
	for _, kv := range st.environment(t) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
		if !known[k] {
			t.Errorf("the function's variable %s is not one cacheenv reads", k)
		}
	}
	for _, local := range []string{cacheenv.VarDynamoDBEndpoint, "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"} {
		if _, ok := vars[local]; ok {
			t.Errorf("the function's environment sets %s: on AWS, the SDK finds the region's endpoint", local)
		}
	}
	cfg := st.config(t)
	want := cacheenv.Config{
		StorageType:      st.params["Backend"].(string),
		KeyPrefix:        st.params["CacheKeyPrefix"].(string),
		Metrics:          cacheenv.MetricsEMF,
		MetricsNamespace: st.params["MetricsNamespace"].(string),
		ServiceName:      st.params["ServiceName"].(string),
	}
	if redis {
		want.RedisURL = "rediss://" + created["Redis.PrimaryEndPoint.Address"] + ":" + created["Redis.PrimaryEndPoint.Port"]
	} else {
		want.TableName = created["Table"]
	}
	got := cacheenv.Config{StorageType: cfg.Backend(), KeyPrefix: cfg.KeyPrefix, Metrics: cfg.Metrics,
		MetricsNamespace: cfg.MetricsNamespace, ServiceName: cfg.ServiceName, TableName: cfg.TableName, RedisURL: cfg.RedisURL}
	if got != want {
		t.Errorf("the function's environment configures\n%+v, want\n%+v", got, want)
	}
	if l1 := st.params["L1MaxSize"].(string); l1 != "" && vars[cacheenv.VarL1MaxSize] != l1 {
		t.Errorf("%s=%q, want the parameter's %q", cacheenv.VarL1MaxSize, vars[cacheenv.VarL1MaxSize], l1)
	}
}

// checkTable checks the table against what dynamostore expects by default: partition key PK,
// a string, no sort key, and DynamoDB's TTL on ttl. The emulator's test creates the table from
// the template and has dynamostore.CreateTable check it against the function's options.
func checkTable(t *testing.T, st *stack) {
	t.Helper()
	table, err := st.GetDynamoDBTableWithName("Table")
	if err != nil {
		t.Fatal(err)
	}
	if len(table.KeySchema) != 1 || table.KeySchema[0].AttributeName != "PK" || table.KeySchema[0].KeyType != "HASH" {
		t.Errorf("KeySchema %+v, want PK alone, as HASH", table.KeySchema)
	}
	if len(table.AttributeDefinitions) != 1 || table.AttributeDefinitions[0].AttributeName != "PK" ||
		table.AttributeDefinitions[0].AttributeType != "S" {
		t.Errorf("AttributeDefinitions %+v, want PK of type S", table.AttributeDefinitions)
	}
	if ttl := table.TimeToLiveSpecification; ttl == nil || deref(ttl.AttributeName) != "ttl" || !ttl.Enabled {
		t.Errorf("TimeToLiveSpecification %+v, want enabled on ttl", ttl)
	}
	if deref(table.BillingMode) != "PAY_PER_REQUEST" {
		t.Errorf("BillingMode %q, want PAY_PER_REQUEST", deref(table.BillingMode))
	}
}

// checkRole checks the function's permissions: Lambda's basic execution role, the VPC one
// with Redis only, and with DynamoDB a policy of the three item calls the function makes, on
// the table, for keys under the prefix. No statement anywhere allows a Scan or a Query, which
// dynamodb:LeadingKeys does not hold to the prefix.
func checkRole(t *testing.T, st *stack, redis bool) {
	t.Helper()
	role, err := st.GetIAMRoleWithName("FunctionRole")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}
	if redis {
		want = append(want, "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
	}
	if !slices.Equal(role.ManagedPolicyArns, want) {
		t.Errorf("ManagedPolicyArns %q, want %q", role.ManagedPolicyArns, want)
	}
	if len(role.Policies) != 0 {
		t.Errorf("the role has inline policies %+v", role.Policies)
	}

	type statement struct {
		Effect    string
		Action    []string
		Resource  string
		Condition map[string]map[string][]string
	}
	var all []statement
	for name, p := range st.GetAllIAMPolicyResources() {
		var doc struct{ Statement []statement }
		b, _ := json.Marshal(p.PolicyDocument)
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("policy %s: %v", name, err)
		}
		all = append(all, doc.Statement...)
	}
	for _, s := range all {
		for _, a := range s.Action {
			if a == "dynamodb:Scan" || a == "dynamodb:Query" || strings.HasSuffix(a, "*") {
				t.Errorf("a statement allows %s", a)
			}
		}
	}

	policy, err := st.GetIAMPolicyWithName("CachePolicy")
	if redis {
		if err == nil {
			t.Error("CachePolicy with Redis, which has no table")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(policy.Roles, []string{cloudformation.Ref("FunctionRole")}) {
		t.Errorf("CachePolicy is for %q, want FunctionRole", policy.Roles)
	}
	wantStatement := statement{
		Effect:    "Allow",
		Action:    []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"},
		Resource:  cloudformation.GetAtt("Table", "Arn"),
		Condition: map[string]map[string][]string{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": {st.params["CacheKeyPrefix"].(string) + "*"}}},
	}
	if len(all) != 1 || !reflect.DeepEqual(all[0], wantStatement) {
		t.Errorf("policy statements\n%+v, want only\n%+v", all, wantStatement)
	}
}

// checkRedis checks the Redis option: the function in the given subnets with a security group
// of its own, the only one the cache's group lets in, and a replication group with TLS, which
// the function's rediss:// URL asks for.
func checkRedis(t *testing.T, st *stack, f *lambda.Function) {
	t.Helper()
	subnets := strings.Split(st.params["SubnetIds"].(string), ",")
	if f.VpcConfig == nil || !slices.Equal(f.VpcConfig.SubnetIds, subnets) ||
		!slices.Equal(f.VpcConfig.SecurityGroupIds, []string{cloudformation.Ref("FunctionSecurityGroup")}) {
		t.Errorf("VpcConfig %+v, want the subnets %q and FunctionSecurityGroup", f.VpcConfig, subnets)
	}
	if _, err := st.GetDynamoDBTableWithName("Table"); err == nil {
		t.Error("a table with Redis")
	}
	group, err := st.GetEC2SecurityGroupWithName("RedisSecurityGroup")
	if err != nil {
		t.Fatal(err)
	}
	if len(group.SecurityGroupIngress) != 1 {
		t.Fatalf("RedisSecurityGroup lets in %+v, want the function alone", group.SecurityGroupIngress)
	}
	in := group.SecurityGroupIngress[0]
	if deref(in.SourceSecurityGroupId) != cloudformation.Ref("FunctionSecurityGroup") || in.CidrIp != nil ||
		in.IpProtocol != "tcp" || deref(in.FromPort) != 6379 || deref(in.ToPort) != 6379 {
		t.Errorf("RedisSecurityGroup lets in %+v, want FunctionSecurityGroup on 6379", in)
	}
	rg, err := st.GetElastiCacheReplicationGroupWithName("Redis")
	if err != nil {
		t.Fatal(err)
	}
	if deref(rg.Engine) != "redis" || !deref(rg.TransitEncryptionEnabled) {
		t.Errorf("Redis: Engine %q, TransitEncryptionEnabled %v; want redis with TLS", deref(rg.Engine), deref(rg.TransitEncryptionEnabled))
	}
	if deref(rg.CacheSubnetGroupName) != cloudformation.Ref("RedisSubnetGroup") {
		t.Errorf("Redis is in subnet group %q, want RedisSubnetGroup", deref(rg.CacheSubnetGroupName))
	}
}

// checkDashboardAndAlarms checks that the template's dashboard and alarms, their parameters
// put in, are what package emf makes for the function's configuration, as "cachectl dashboard"
// and "cachectl alarms" would print them with the function's environment: the namespace, the
// metric names and the one dimension set of the function's EMF lines.
func checkDashboardAndAlarms(t *testing.T, st *stack) {
	t.Helper()
	cfg := st.config(t)
	dash, err := st.GetCloudWatchDashboardWithName("Dashboard")
	if err != nil {
		t.Fatal(err)
	}
	body, err := emf.Dashboard(emf.DashboardOptions{Service: cfg.ServiceName, Namespace: cfg.MetricsNamespace,
		Prefix: cfg.KeyPrefix, Dimensions: cfg.MetricsDimensions(), Region: pseudo["AWS::Region"].(string)})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, []byte(dash.DashboardBody), body) {
		t.Errorf("the dashboard's body is not emf.Dashboard's:\n%s\nwant\n%s", dash.DashboardBody, body)
	}

	var actions []string
	if topic := st.params["AlarmTopicArn"].(string); topic != "" {
		actions = []string{topic}
	}
	alarms, err := emf.Alarms(emf.AlarmOptions{Service: cfg.ServiceName, Namespace: cfg.MetricsNamespace,
		Prefix: cfg.KeyPrefix, Dimensions: cfg.MetricsDimensions(), Actions: actions})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.GetAllCloudWatchAlarmResources()); got != len(alarms) {
		t.Errorf("%d alarms, want emf.Alarms' %d", got, len(alarms))
	}
	for _, a := range alarms {
		if _, err := st.GetCloudWatchAlarmWithName(a.LogicalID); err != nil {
			t.Error(err)
			continue
		}
		want, _ := json.Marshal(a)
		got, _ := json.Marshal(st.properties(t, a.LogicalID))
		if !sameJSON(t, got, want) {
			t.Errorf("alarm %s:\n%s\nwant emf.Alarms'\n%s", a.LogicalID, got, want)
		}
	}
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%v: %s", err, a)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return reflect.DeepEqual(x, y)
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// TestTemplatePassesCfnLint checks template.yaml with the npm package cfn-lint, for each
// deployment's parameters, through testdata/cfn-lint.js, which brings cfn-lint's resource
// specification up to date for the properties the template uses. A template with a property
// the specification does not have must fail, or the check would be checking nothing.
func TestTemplatePassesCfnLint(t *testing.T) {
	pkg := os.Getenv("CACHEKIT_CFN_LINT")
	if pkg == "" {
		testenv.Missing(t, "cfn-lint (set CACHEKIT_CFN_LINT to the npm package's directory; scripts/test installs it)", exec.ErrNotFound)
	}
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Missing(t, "node, which runs cfn-lint", err)
	}
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			res := cfnLint(t, pkg, "template.yaml", d.params)
			for _, e := range res.all() {
				t.Errorf("cfn-lint: %s", e)
			}
			if !res.TemplateValid {
				t.Error("cfn-lint: template invalid")
			}
		})
	}
	t.Run("a property it does not know", func(t *testing.T) {
		t.Parallel()
		src, err := os.ReadFile("template.yaml")
		if err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(t.TempDir(), "template.yaml")
		if err := os.WriteFile(bad, []byte(strings.Replace(string(src), "TimeToLiveSpecification:", "TimeToLive:", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		res := cfnLint(t, pkg, bad, deployments[0].params)
		if res.TemplateValid || !strings.Contains(strings.Join(res.all(), "\n"), "TimeToLive is not a valid property of AWS::DynamoDB::Table") {
			t.Errorf("cfn-lint passed a table with a property TimeToLive: %q", res.all())
		}
	})
}

// cfnLintResult is cfn-lint's ValidationResult.
type cfnLintResult struct {
	TemplateValid bool `json:"templateValid"`
	Errors        map[string][]struct {
		Message  string `json:"message"`
		Resource string `json:"resource"`
	} `json:"errors"`
}

// all returns every finding, whatever its level: a warning or a note fails the test too.
func (r cfnLintResult) all() []string {
	var out []string
	for _, level := range []string{"crit", "warn", "info"} {
		for _, e := range r.Errors[level] {
			out = append(out, level+": "+e.Resource+": "+e.Message)
		}
	}
	return out
}

func cfnLint(t *testing.T, pkg, template string, params map[string]string) cfnLintResult {
	t.Helper()
	args := []string{"testdata/cfn-lint.js", pkg, template}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		args = append(args, k+"="+params[k])
	}
	cmd := exec.Command("node", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var res cfnLintResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("cfn-lint's result: %v\n%s", err, out)
	}
	return res
}

// TestCfnLintSpecIsCurrent holds testdata/cfn-lint-spec.json, what testdata/cfn-lint.js adds
// to cfn-lint's resource specification, to goformation's, generated from the current one:
// each property added is one of goformation's typed resource, of the same kind.
func TestCfnLintSpecIsCurrent(t *testing.T) {
	b, err := os.ReadFile("testdata/cfn-lint-spec.json")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		ResourceTypes map[string]struct {
			Properties map[string]struct{ Type, PrimitiveType, PrimitiveItemType string }
		}
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	if len(spec.ResourceTypes) == 0 {
		t.Fatal("no resource types")
	}
	resources := cloudformation.AllResources()
	for typ, def := range spec.ResourceTypes {
		r, ok := resources[typ]
		if !ok {
			t.Errorf("goformation has no %s", typ)
			continue
		}
		fields := map[string]reflect.Type{}
		rt := reflect.TypeOf(r).Elem()
		for i := range rt.NumField() {
			name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			fields[name] = rt.Field(i).Type
		}
		for name, p := range def.Properties {
			f, ok := fields[name]
			if !ok {
				t.Errorf("%s.%s is not in goformation's specification", typ, name)
				continue
			}
			var want reflect.Type
			switch {
			case p.Type == "List" && p.PrimitiveItemType == "String":
				want = reflect.TypeFor[[]string]()
			case p.PrimitiveType == "String":
				want = reflect.TypeFor[*string]()
			case p.PrimitiveType == "Boolean":
				want = reflect.TypeFor[*bool]()
			case p.PrimitiveType == "Integer":
				want = reflect.TypeFor[*int]()
			default:
				t.Errorf("%s.%s: a kind this test does not compare: %+v", typ, name, p)
				continue
			}
			if f != want {
				t.Errorf("%s.%s is %v in goformation, %v in cfn-lint-spec.json", typ, name, f, want)
			}
		}
	}
}
