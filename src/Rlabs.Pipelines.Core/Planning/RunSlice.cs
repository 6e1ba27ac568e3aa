namespace Rlabs.Pipelines.Planning;

/// <summary>Which steps a partial run runs: -Step names, or the steps from -FromStep on and/or up to -ToStep.</summary>
public static class RunSlice
{
    /// <summary>
    /// The names of the steps to run, in file order, or null for all: <paramref name="steps"/> as given, else the
    /// steps that depend on <paramref name="fromStep"/> (it included) and/or those <paramref name="toStep"/>
    /// depends on (it included). An unknown name is an <see cref="RlabsRunException"/> that lists the steps.
    /// </summary>
    public static IReadOnlyList<string>? Select(RlabsPipeline pipeline, IReadOnlyList<string>? steps, string? fromStep, string? toStep)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        if ((steps is null || steps.Count == 0) && fromStep is null && toStep is null)
        {
            return null;
        }
        var graph = StepGraph.Build(pipeline.Steps);
        int Index(string name, string parameter)
        {
            for (var index = 0; index < pipeline.Steps.Count; index++)
            {
                if (string.Equals(pipeline.Steps[index].Name, name, StringComparison.OrdinalIgnoreCase))
                {
                    return index;
                }
            }
            throw new RlabsRunException($"{parameter} names '{name}', which is not a step of {pipeline.Path}. Its steps: {string.Join(", ", pipeline.Steps.Select(s => s.Name))}.", "UnknownStep", RlabsRunErrorKind.InvalidArgument, name);
        }
        var selected = new HashSet<int>();
        if (steps is { Count: > 0 })
        {
            foreach (var name in steps)
            {
                selected.Add(Index(name, "-Step"));
            }
        }
        else
        {
            var all = Enumerable.Range(0, pipeline.Steps.Count);
            if (fromStep is not null)
            {
                var from = Index(fromStep, "-FromStep");
                all = all.Where(i => i == from || graph.IsAncestor(from, i));
            }
            if (toStep is not null)
            {
                var to = Index(toStep, "-ToStep");
                all = all.Where(i => i == to || graph.IsAncestor(i, to));
            }
            selected.UnionWith(all);
            if (selected.Count == 0)
            {
                throw new RlabsRunException($"No step lies between -FromStep '{fromStep}' and -ToStep '{toStep}': '{toStep}' does not depend on '{fromStep}'.", "EmptySlice", RlabsRunErrorKind.InvalidArgument, toStep);
            }
        }
        return selected.Order().Select(i => pipeline.Steps[i].Name).ToList();
    }
}
