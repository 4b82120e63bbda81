package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// input is one image to score and its path relative to the common root of the arguments,
// which names its maps under -maps.
type input struct{ path, rel string }

// isImage reports whether a file found in a folder is scored.
func isImage(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// listInputs expands files and folders (recursively, PNG and JPEG, sorted) into inputs whose
// rel is the path from the common root of the arguments: a folder argument counts from its
// parent, so that scoring CATEGORY/test gives test/<defect>/NNN.png, the layout 'csad report'
// and the official evaluation read; a file argument counts from its own folder. Images from
// different folders thus keep apart (a/000.png and b/000.png), where file names alone would
// collide. skip, when not empty, is a folder not to descend into (the -maps folder, whose
// overlay PNGs are not inputs).
//
// The same file reached twice (listed twice, or as a file and inside a folder) is an error, and
// so, with maps, are two files whose maps would share a name (a.png and a.jpg).
func listInputs(args []string, skip string, maps bool) ([]input, error) {
	in, err := expand(args, skip, maps)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	return in, nil
}

func expand(args []string, skip string, maps bool) ([]input, error) {
	if skip != "" {
		a, err := filepath.Abs(skip)
		if err != nil {
			return nil, err
		}
		skip = a
	}
	type found struct {
		path, abs string
	}
	var files []found
	var bases []string
	for _, a := range args {
		abs, err := filepath.Abs(a)
		if err != nil {
			return nil, err
		}
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, found{a, abs})
			bases = append(bases, filepath.Dir(abs))
			continue
		}
		bases = append(bases, filepath.Dir(abs))
		var in []found
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			pa, err := filepath.Abs(p)
			if err != nil {
				return err
			}
			if d.IsDir() {
				if skip != "" && pa == skip {
					return filepath.SkipDir
				}
				return nil
			}
			if isImage(p) {
				in = append(in, found{p, pa})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		slices.SortFunc(in, func(x, y found) int { return strings.Compare(x.path, y.path) })
		files = append(files, in...)
	}
	root := commonDir(bases)
	out := make([]input, len(files))
	byAbs := map[string]string{}
	byStem := map[string]string{}
	for i, f := range files {
		if prev, dup := byAbs[f.abs]; dup {
			return nil, fmt.Errorf("%s is given twice (also as %s); list each image once", f.path, prev)
		}
		byAbs[f.abs] = f.path
		rel, err := filepath.Rel(root, f.abs)
		if err != nil {
			return nil, err
		}
		stem := strings.TrimSuffix(rel, filepath.Ext(rel))
		if prev, dup := byStem[stem]; dup && maps {
			return nil, fmt.Errorf("%s and %s would both write the map %s.tiff; rename one or score them in separate runs", prev, f.path, stem)
		}
		byStem[stem] = f.path
		out[i] = input{f.path, rel}
	}
	return out, nil
}

// commonDir is the deepest folder that contains every one of the absolute folders dirs.
func commonDir(dirs []string) string {
	if len(dirs) == 0 {
		return ""
	}
	sep := string(filepath.Separator)
	common := strings.Split(filepath.Clean(dirs[0]), sep)
	for _, d := range dirs[1:] {
		parts := strings.Split(filepath.Clean(d), sep)
		n := 0
		for n < len(common) && n < len(parts) && common[n] == parts[n] {
			n++
		}
		common = common[:n]
	}
	root := strings.Join(common, sep)
	if root == "" {
		return sep // only the file system root is shared
	}
	return root
}
