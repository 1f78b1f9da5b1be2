/// The k-th smallest of some values without sorting them.
package enum OrderStatistics {
    /// The value a full sort would put at `k`, found by quickselect in linear time (three-way partitions around
    /// a median of three, so runs of equal values, such as the zeros of a still picture's motion map, cost
    /// nothing). Reorders `values`.
    package static func select(_ k: Int, in values: UnsafeMutableBufferPointer<Float>) -> Float {
        precondition(k >= 0 && k < values.count)
        var low = 0, high = values.count - 1
        while low < high {
            let a = values[low], b = values[(low + high) / 2], c = values[high]
            let pivot = max(min(a, b), min(max(a, b), c))
            var below = low, index = low, above = high
            while index <= above {
                if values[index] < pivot {
                    values.swapAt(below, index)
                    below += 1
                    index += 1
                } else if values[index] > pivot {
                    values.swapAt(index, above)
                    above -= 1
                } else {
                    index += 1
                }
            }
            if k < below { high = below - 1 } else if k > above { low = above + 1 } else { return pivot }
        }
        return values[low]
    }
}
