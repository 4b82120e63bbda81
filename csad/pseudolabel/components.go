package pseudolabel

// component is a 4-connected set of pixels sharing one region id.
type component struct {
	id             int32 // index into componentList.pixelIDs values
	area           int
	x0, y0, x1, y1 int // half-open bounding box
}

type componentList struct {
	list []component
	// pixelIDs holds each pixel's component id, -1 where the region id was
	// negative.
	pixelIDs []int32
}

// components4 finds the 4-connected components of equal, non-negative
// region ids, in raster order of their first pixel.
func components4(region []int32, w, h int) componentList {
	ids := make([]int32, len(region))
	for i := range ids {
		ids[i] = -1
	}
	var out []component
	stack := make([]int32, 0, 64)
	for start, r := range region {
		if r < 0 || ids[start] >= 0 {
			continue
		}
		c := component{id: int32(len(out)), x0: w, y0: h}
		ids[start] = c.id
		stack = append(stack[:0], int32(start))
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x, y := p%w, p/w
			c.area++
			c.x0, c.x1 = min(c.x0, x), max(c.x1, x+1)
			c.y0, c.y1 = min(c.y0, y), max(c.y1, y+1)
			visit := func(q int) {
				if region[q] == r && ids[q] < 0 {
					ids[q] = c.id
					stack = append(stack, int32(q))
				}
			}
			if x > 0 {
				visit(p - 1)
			}
			if x+1 < w {
				visit(p + 1)
			}
			if y > 0 {
				visit(p - w)
			}
			if y+1 < h {
				visit(p + w)
			}
		}
		out = append(out, c)
	}
	return componentList{list: out, pixelIDs: ids}
}
