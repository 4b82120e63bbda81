package metrics

import (
	"encoding/json"
	"errors"
)

// Split names as the official metrics.json spells them.
const (
	Logical    = "logical_anomalies"
	Structural = "structural_anomalies"
	Mean       = "mean"
)

// Results is the metrics.json written by the official MVTec LOCO AD
// evaluation script (keys sorted, as its json.dump(sort_keys=True)):
//
//	{"classification": {"auc_roc": {"logical_anomalies": x, "mean": x, "structural_anomalies": x}},
//	 "localization": {"auc_spro": {"logical_anomalies": {"0.01": x, ..., "1.0": x}, "mean": {...}, "structural_anomalies": {...}}}}
//
// A value that cannot be computed is null, as the official script writes
// None. Localization is left out when no anomaly maps were evaluated. The
// official per_threshold curve dump is not written: the exact curve has one
// point per distinct score, far too many for a results file.
type Results struct {
	Classification *Classification `json:"classification,omitempty"`
	Localization   *Localization   `json:"localization,omitempty"`
}

// Classification holds the image-level AUROCs per split and their mean.
type Classification struct {
	AUCROC map[string]*float64 `json:"auc_roc"`
}

// Localization holds the AU-sPRO per split (and mean) and per FPR limit key
// (see LimitKey).
type Localization struct {
	AUCsPRO map[string]map[string]*float64 `json:"auc_spro"`
}

// NewClassification computes the classification part from the image scores
// of the good, logical and structural test images.
func NewClassification(good, logical, structural []float64) (*Classification, error) {
	l, err1 := AUROCSplit(good, logical)
	s, err2 := AUROCSplit(good, structural)
	c := &Classification{AUCROC: map[string]*float64{Logical: opt(l, err1), Structural: opt(s, err2), Mean: nil}}
	if err1 == nil && err2 == nil {
		m := 0.5 * (l + s)
		c.AUCROC[Mean] = &m
	}
	return c, errors.Join(err1, err2)
}

// NewLocalization computes the localization part: for each split, the
// AU-sPRO of the split's images together with the good test images, as the
// official script does with add_good_images=True, and the mean of the two.
func NewLocalization(good, logical, structural []Image, limits []float64) (*Localization, error) {
	if limits == nil {
		limits = DefaultLimits
	}
	loc := &Localization{AUCsPRO: map[string]map[string]*float64{}}
	per := map[string][]float64{}
	var errs []error
	for _, sp := range []struct {
		name string
		ims  []Image
	}{{Logical, logical}, {Structural, structural}} {
		set := append(append([]Image{}, sp.ims...), good...)
		v, err := AUsPRO(set, limits)
		m := map[string]*float64{}
		for i, l := range limits {
			if err == nil {
				m[LimitKey(l)] = &v[i]
			} else {
				m[LimitKey(l)] = nil
			}
		}
		loc.AUCsPRO[sp.name] = m
		if err != nil {
			errs = append(errs, err)
		} else {
			per[sp.name] = v
		}
	}
	mean := map[string]*float64{}
	for i, l := range limits {
		a, ok1 := per[Logical]
		b, ok2 := per[Structural]
		if ok1 && ok2 {
			v := 0.5 * (a[i] + b[i])
			mean[LimitKey(l)] = &v
		} else {
			mean[LimitKey(l)] = nil
		}
	}
	loc.AUCsPRO[Mean] = mean
	return loc, errors.Join(errs...)
}

// MarshalIndent renders r as the official script does (indent 4, sorted
// keys; Go sorts map keys).
func (r Results) MarshalIndent() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "    ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func opt(v float64, err error) *float64 {
	if err != nil {
		return nil
	}
	return &v
}
