// helm-render renders a Helm chart's templates for CI, where no helm binary exists (Debian
// does not package it). It is built from what Helm's engine is made of - Go's text/template
// and Sprig - plus the Helm built-ins the Kite chart uses: include, tpl, required, fail,
// toYaml, fromYaml, toJson, fromJson, lookup (empty, or objects from --objects), .Values
// (values.yaml coalesced with -f files, nulls delete keys, numbers as float64 like Helm),
// .Release, .Chart, .Capabilities (fixed versions, --api-versions), .Template.
//
// It is NOT Helm: no subcharts or dependencies, no .Files, no hooks ordering or weights
// (hooks are rendered like any document), no schema validation (deploy/check_chart.py does
// that), no --set, no post-renderers, no install order. docs/deploy.md lists the gaps.
//
//	helm-render [-f values.yaml]... [--release NAME] [--namespace NS] [--objects FILE]
//	            [--api-versions a/v1,b/v1] [--notes FILE] CHART_DIR
//
// Output: every rendered document, each preceded by "---" and "# Source: <chart>/templates/<f>".
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// apiVersions mirrors Helm's .Capabilities.APIVersions (Has only).
type apiVersions []string

func (a apiVersions) Has(v string) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// normalize turns decoded YAML into the shapes Helm produces (Helm decodes values through
// JSON): map[string]interface{}, []interface{}, float64 for every number.
func normalize(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		for k, x := range t {
			t[k] = normalize(x)
		}
		return t
	case map[interface{}]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[fmt.Sprint(k)] = normalize(x)
		}
		return m
	case []interface{}:
		for i, x := range t {
			t[i] = normalize(x)
		}
		return t
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case uint64:
		return float64(t)
	default:
		return v
	}
}

func readYAMLMap(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var v interface{}
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := normalize(v).(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("%s: top level is not a map", path)
	}
	return m, nil
}

// coalesce merges src over dst like Helm: maps merge recursively, other values replace,
// an explicit null deletes the key.
func coalesce(dst, src map[string]interface{}) map[string]interface{} {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		dm, dok := dst[k].(map[string]interface{})
		sm, sok := sv.(map[string]interface{})
		if dok && sok {
			dst[k] = coalesce(dm, sm)
		} else {
			dst[k] = sv
		}
	}
	return dst
}

// integral turns whole float64 numbers into int64 for output: Helm's toYaml goes through
// JSON (sigs.k8s.io/yaml), which prints 1000000 where yaml.v3 would print 1e+06.
func integral(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		m := make(map[string]interface{}, len(t))
		for k, x := range t {
			m[k] = integral(x)
		}
		return m
	case []interface{}:
		l := make([]interface{}, len(t))
		for i, x := range t {
			l[i] = integral(x)
		}
		return l
	case float64:
		if t == math.Trunc(t) && math.Abs(t) < 1e15 {
			return int64(t)
		}
	}
	return v
}

func toYAML(v interface{}) string {
	v = integral(v)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	var v interface{}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &v); err != nil {
		m["Error"] = err.Error()
		return m
	}
	if mm, ok := normalize(v).(map[string]interface{}); ok {
		return mm
	}
	return m
}

func toJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

type object = map[string]interface{}

func main() {
	var valueFiles listFlag
	flag.Var(&valueFiles, "f", "values file (repeatable; later files win)")
	release := flag.String("release", "kite", "release name")
	namespace := flag.String("namespace", "kite", "release namespace")
	objectsFile := flag.String("objects", "", "YAML documents that lookup may return (a stand-in for the cluster)")
	apis := flag.String("api-versions", "", "extra API versions for .Capabilities.APIVersions.Has (comma separated)")
	notesOut := flag.String("notes", "", "also render templates/NOTES.txt into this file")
	isUpgrade := flag.Bool("upgrade", false, "render as an upgrade (.Release.IsUpgrade)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-f values.yaml]... [--release N] [--namespace NS] [--objects F] [--api-versions L] [--notes F] CHART_DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), valueFiles, *release, *namespace, *objectsFile, *apis, *notesOut, *isUpgrade); err != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", err)
		os.Exit(1)
	}
}

func run(chartDir string, valueFiles []string, release, namespace, objectsFile, apis, notesOut string, isUpgrade bool) error {
	chartMeta, err := readYAMLMap(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return err
	}
	chart := map[string]interface{}{}
	// Helm exposes Chart.yaml fields capitalised (.Chart.Name, .Chart.AppVersion, ...).
	for k, v := range chartMeta {
		chart[strings.ToUpper(k[:1])+k[1:]] = v
	}
	chartName, _ := chart["Name"].(string)
	if chartName == "" {
		return errors.New("Chart.yaml has no name")
	}

	values, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return err
	}
	for _, f := range valueFiles {
		v, err := readYAMLMap(f)
		if err != nil {
			return err
		}
		values = coalesce(values, v)
	}

	var objects []object
	if objectsFile != "" {
		data, err := os.ReadFile(objectsFile)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var v interface{}
			if err := dec.Decode(&v); err != nil {
				if err.Error() == "EOF" {
					break
				}
				return fmt.Errorf("%s: %w", objectsFile, err)
			}
			if m, ok := normalize(v).(map[string]interface{}); ok {
				objects = append(objects, m)
			}
		}
	}

	versions := apiVersions{"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2",
		"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"}
	if apis != "" {
		versions = append(versions, strings.Split(apis, ",")...)
	}

	top := map[string]interface{}{
		"Values": values,
		"Chart":  chart,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "Service": "Helm",
			"IsInstall": !isUpgrade, "IsUpgrade": isUpgrade, "Revision": 1,
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{
				"Version": "v1.29.0", "Major": "1", "Minor": "29", "GitVersion": "v1.29.0",
			},
			"APIVersions": versions,
			"HelmVersion": map[string]interface{}{"Version": "v3.14.0"},
		},
	}

	// Every file under templates/ is parsed into one set, named <chart>/templates/<path>.
	tmplDir := filepath.Join(chartDir, "templates")
	var files []string
	err = filepath.Walk(tmplDir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)

	root := template.New("helm-render")
	funcs := sprig.TxtFuncMap()
	// Helm removes these for safety; a chart using them would not work under Helm.
	delete(funcs, "env")
	delete(funcs, "expandenv")
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = fromYAML
	funcs["toJson"] = toJSON
	funcs["fromJson"] = fromJSON
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["lookup"] = func(apiVersion, kind, ns, name string) (map[string]interface{}, error) {
		var items []interface{}
		for _, o := range objects {
			md, _ := o["metadata"].(map[string]interface{})
			if o["apiVersion"] != apiVersion || o["kind"] != kind || md == nil {
				continue
			}
			if ns != "" && md["namespace"] != ns {
				continue
			}
			if name != "" {
				if md["name"] == name {
					return o, nil
				}
				continue
			}
			items = append(items, o)
		}
		if name != "" {
			return map[string]interface{}{}, nil
		}
		if items == nil {
			return map[string]interface{}{}, nil
		}
		return map[string]interface{}{"items": items}, nil
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return "", err
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
	root.Funcs(funcs).Option("missingkey=zero")

	names := map[string]string{}
	for _, f := range files {
		rel, _ := filepath.Rel(chartDir, f)
		name := filepath.ToSlash(filepath.Join(chartName, rel))
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := root.New(name).Parse(string(data)); err != nil {
			return err
		}
		names[name] = f
	}

	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var out bytes.Buffer
	for _, name := range sorted {
		base := filepath.Base(name)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" {
			continue
		}
		data := withTemplate(top, name, chartName)
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, name, data); err != nil {
			return err
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		// One Source header per document, like helm template.
		for _, doc := range splitDocs(text) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, strings.Trim(doc, "\n"))
		}
	}
	if notesOut != "" {
		name := chartName + "/templates/NOTES.txt"
		if _, ok := names[name]; ok {
			var buf bytes.Buffer
			if err := root.ExecuteTemplate(&buf, name, withTemplate(top, name, chartName)); err != nil {
				return err
			}
			if err := os.WriteFile(notesOut, []byte(strings.ReplaceAll(buf.String(), "<no value>", "")), 0o644); err != nil {
				return err
			}
		}
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

func withTemplate(top map[string]interface{}, name, chartName string) map[string]interface{} {
	data := map[string]interface{}{}
	for k, v := range top {
		data[k] = v
	}
	data["Template"] = map[string]interface{}{"Name": name, "BasePath": chartName + "/templates"}
	return data
}

func splitDocs(text string) []string {
	var docs []string
	var cur []string
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimRight(line, " ") == "---" {
			docs = append(docs, strings.Join(cur, "\n"))
			cur = nil
			continue
		}
		cur = append(cur, line)
	}
	return append(docs, strings.Join(cur, "\n"))
}

func stripComments(doc string) string {
	var keep []string
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
