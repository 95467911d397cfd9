/// The SVG charts a spec asks for, drawn from the sweep runs' metrics in display units.
enum ExperimentPlots {
    static func svgFiles(_ results: ExperimentResults) -> [(name: String, contents: String)] {
        results.spec.plots.map { ($0.file, svg($0, results)) }
    }

    /// The series of a plot: (name, display values per x position). Series come from the series axis, from
    /// several y metrics, or are one unnamed series.
    static func series(_ plot: ExperimentSpec.Plot, _ results: ExperimentResults) -> [(name: String, values: [Double?])] {
        let spec = results.spec
        let xAxis = spec.axis(plot.x)!
        func values(metric name: String, extra: [(option: String, value: String)]) -> [Double?] {
            let metric = spec.metric(name)!
            return xAxis.values.map { x in
                guard let run = results.sweepRun(matching: plot.filter + extra + [(plot.x, x)]),
                      let value = results.values[run.index][name]?.number else { return nil }
                return value * metric.format.scale
            }
        }
        if let seriesOption = plot.series {
            let axis = spec.axis(seriesOption)!
            return axis.values.map { (axis.label($0), values(metric: plot.y[0], extra: [(seriesOption, $0)])) }
        }
        if plot.y.count > 1 {
            return plot.y.map { (spec.metric($0)!.title, values(metric: $0, extra: [])) }
        }
        return [("", values(metric: plot.y[0], extra: []))]
    }

    static func svg(_ plot: ExperimentSpec.Plot, _ results: ExperimentResults) -> String {
        let xAxis = results.spec.axis(plot.x)!
        let xLabels = xAxis.values.map(xAxis.label)
        let data = series(plot, results)
        switch plot.type {
        case .line:
            var chart = LineChart(title: plot.title, xLabel: plot.xLabel, yLabel: plot.yLabel, xLabels: xLabels,
                                  series: data.map { LineChart.Series(name: $0.name, values: $0.values) })
            chart.logScale = plot.logScale
            return chart.svg()
        case .bar:
            let decimals = plot.y.map { results.spec.metric($0)!.format.decimals }.max() ?? 2
            var chart = BarChart(title: plot.title, xLabel: plot.xLabel, yLabel: plot.yLabel, categories: xLabels,
                                 series: data.map { BarChart.Series(name: $0.name, values: $0.values) }, valueDecimals: decimals)
            chart.logScale = plot.logScale
            return chart.svg()
        }
    }
}
