package samtemplate

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// emissions maps each metric the code emits to the dimension sets it is emitted with, each
// set written as its sorted dimension names joined by commas ("service,tenant").
type emissions map[string]map[string]bool

// has reports whether metric is emitted with exactly the dimensions dims.
func (e emissions) has(metric string, dims []string) bool { return e[metric][dimSet(dims)] }

// sets lists the dimension sets metric is emitted with.
func (e emissions) sets(metric string) []string {
	var out []string
	for s := range e[metric] {
		out = append(out, "{"+s+"}")
	}
	slices.Sort(out)
	return out
}

// dimSet is the canonical form of a dimension set.
func dimSet(dims []string) string {
	d := slices.Clone(dims)
	for i := range d {
		d[i] = strings.TrimSpace(d[i])
	}
	slices.Sort(d)
	return strings.Join(d, ",")
}

// scanEmissions reads the Go code under root (tests excluded) and finds every EMF emission:
// a call X.Emit(map[string]string{<dimension names>}, <metrics>...). The metric names come from
// the Name fields of the metric literals in the call; when the metrics are a spread variable,
// from the enclosing function (string literals of its body, such as a list of names) or, when
// that variable is the function's own parameter, from the Name fields at the function's call
// sites in the same package.
func scanEmissions(root string) (emissions, error) {
	type pkgFile struct {
		dir  string
		file *ast.File
	}
	var files []pkgFile
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files = append(files, pkgFile{filepath.Dir(path), f})
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := emissions{}
	add := func(dims []string, names []string) {
		for _, n := range names {
			if out[n] == nil {
				out[n] = map[string]bool{}
			}
			out[n][dimSet(dims)] = true
		}
	}
	for _, pf := range files {
		for _, decl := range pf.file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) == 0 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "Emit" {
					return true
				}
				dims, ok := mapKeys(call.Args[0])
				if !ok {
					return true
				}
				names := metricNames(call.Args[1:]...)
				if spread, ok := call.Args[len(call.Args)-1].(*ast.Ident); ok && call.Ellipsis.IsValid() {
					if isParam(fn, spread.Name) {
						for _, other := range files {
							if other.dir == pf.dir {
								names = append(names, callSiteNames(other.file, fn.Name.Name)...)
							}
						}
					} else {
						names = append(names, stringLiterals(fn.Body, call.Args[0])...)
					}
				}
				add(dims, names)
				return true
			})
		}
	}
	return out, nil
}

// mapKeys returns the string keys of a map[string]string composite literal.
func mapKeys(e ast.Expr) ([]string, bool) {
	lit, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil, false
	}
	if _, ok := lit.Type.(*ast.MapType); !ok {
		return nil, false
	}
	var keys []string
	for _, el := range lit.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return nil, false
		}
		k, ok := stringLit(kv.Key)
		if !ok {
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, true
}

// metricNames collects the Name: "..." fields of the composite literals below nodes.
func metricNames(nodes ...ast.Expr) []string {
	var out []string
	for _, n := range nodes {
		ast.Inspect(n, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			if id, ok := kv.Key.(*ast.Ident); ok && id.Name == "Name" {
				if s, ok := stringLit(kv.Value); ok {
					out = append(out, s)
				}
			}
			return true
		})
	}
	return out
}

// callSiteNames collects the metric names passed at every call of a function or method named name.
func callSiteNames(f *ast.File, name string) []string {
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		switch fun := call.Fun.(type) {
		case *ast.Ident:
			if fun.Name == name {
				out = append(out, metricNames(call.Args...)...)
			}
		case *ast.SelectorExpr:
			if fun.Sel.Name == name {
				out = append(out, metricNames(call.Args...)...)
			}
		}
		return true
	})
	return out
}

// stringLiterals collects the string elements and keys of the composite literals of body
// (a list of metric names, a map from name to value), outside skip (the dimensions map).
func stringLiterals(body *ast.BlockStmt, skip ast.Node) []string {
	var out []string
	ast.Inspect(body, func(n ast.Node) bool {
		if n == skip {
			return false
		}
		lit, ok := n.(*ast.CompositeLit)
		if !ok {
			return true
		}
		for _, el := range lit.Elts {
			if kv, ok := el.(*ast.KeyValueExpr); ok {
				el = kv.Key
			}
			if s, ok := stringLit(el); ok {
				out = append(out, s)
			}
		}
		return true
	})
	return out
}

func isParam(fn *ast.FuncDecl, name string) bool {
	for _, f := range fn.Type.Params.List {
		for _, n := range f.Names {
			if n.Name == name {
				return true
			}
		}
	}
	return false
}

func stringLit(n ast.Node) (string, bool) {
	lit, ok := n.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}
