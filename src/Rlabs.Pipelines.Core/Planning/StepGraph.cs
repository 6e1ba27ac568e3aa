namespace Rlabs.Pipelines.Planning;

/// <summary>
/// The steps' dependency graph: a step without <c>depends_on</c> depends on the step above it (the seed's
/// order), a step with one only on the steps it names. The config reader checks it, the planner and the
/// engine run it; one rule, one place.
/// </summary>
public sealed class StepGraph
{
    private readonly bool[,] _reaches;

    private StepGraph(IReadOnlyList<IReadOnlyList<int>> dependencies, IReadOnlyList<int>? cycle)
    {
        Dependencies = dependencies;
        Cycle = cycle;
        var count = dependencies.Count;
        _reaches = new bool[count, count];
        if (cycle is null)
        {
            foreach (var index in TopologicalOrder())
            {
                foreach (var dependency in dependencies[index])
                {
                    _reaches[dependency, index] = true;
                    for (var ancestor = 0; ancestor < count; ancestor++)
                    {
                        if (_reaches[ancestor, dependency])
                        {
                            _reaches[ancestor, index] = true;
                        }
                    }
                }
            }
        }
    }

    /// <summary>For each step (by index), the indexes of the steps it depends on directly.</summary>
    public IReadOnlyList<IReadOnlyList<int>> Dependencies { get; }

    /// <summary>The steps of a cycle in dependency order (each depends on the next, the last on the first), or null.</summary>
    public IReadOnlyList<int>? Cycle { get; }

    /// <summary>Builds the graph of <paramref name="steps"/>; names compare without case, unknown names are ignored (the reader reports them).</summary>
    public static StepGraph Build(IReadOnlyList<RlabsPipelineStep> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var byName = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var index = 0; index < steps.Count; index++)
        {
            byName.TryAdd(steps[index].Name, index);
        }
        var dependencies = new List<IReadOnlyList<int>>(steps.Count);
        for (var index = 0; index < steps.Count; index++)
        {
            var step = steps[index];
            dependencies.Add(step.HasDependsOn
                ? step.DependsOn.Where(byName.ContainsKey).Select(n => byName[n]).Where(d => d != index).Distinct().ToList()
                : index == 0 ? [] : [index - 1]);
        }
        return new StepGraph(dependencies, FindCycle(dependencies));
    }

    /// <summary>Whether <paramref name="ancestor"/> must finish before <paramref name="step"/> starts (directly or through others).</summary>
    public bool IsAncestor(int ancestor, int step) => _reaches[ancestor, step];

    /// <summary>Whether one of the two steps must finish before the other starts: when not, they may run at the same time.</summary>
    public bool Related(int a, int b) => a == b || _reaches[a, b] || _reaches[b, a];

    /// <summary>Every step that must wait for <paramref name="step"/> (directly or through others).</summary>
    public IEnumerable<int> Descendants(int step) => Enumerable.Range(0, Dependencies.Count).Where(other => _reaches[step, other]);

    /// <summary>The steps in an order where each comes after its dependencies, file order among equals.</summary>
    public IReadOnlyList<int> TopologicalOrder()
    {
        var done = new bool[Dependencies.Count];
        var order = new List<int>(Dependencies.Count);
        while (order.Count < Dependencies.Count)
        {
            var next = Enumerable.Range(0, Dependencies.Count).FirstOrDefault(i => !done[i] && Dependencies[i].All(d => done[d]), -1);
            if (next < 0)
            {
                throw new InvalidOperationException("The step graph has a cycle.");
            }
            done[next] = true;
            order.Add(next);
        }
        return order;
    }

    /// <summary>Whether an output key and an input key share data: the same folder, or one inside the other.</summary>
    public static bool Overlaps(string outputKey, string inputKey)
    {
        ArgumentNullException.ThrowIfNull(outputKey);
        ArgumentNullException.ThrowIfNull(inputKey);
        return string.Equals(outputKey, inputKey, StringComparison.Ordinal)
            || inputKey.StartsWith(outputKey + "/", StringComparison.Ordinal)
            || outputKey.StartsWith(inputKey + "/", StringComparison.Ordinal);
    }

    private static List<int>? FindCycle(List<IReadOnlyList<int>> dependencies)
    {
        // 0 unvisited, 1 on the current path, 2 finished.
        var state = new int[dependencies.Count];
        var path = new List<int>();
        List<int>? Visit(int node)
        {
            state[node] = 1;
            path.Add(node);
            foreach (var dependency in dependencies[node])
            {
                if (state[dependency] == 1)
                {
                    return path.Skip(path.IndexOf(dependency)).ToList();
                }
                if (state[dependency] == 0 && Visit(dependency) is { } found)
                {
                    return found;
                }
            }
            path.RemoveAt(path.Count - 1);
            state[node] = 2;
            return null;
        }
        for (var index = 0; index < dependencies.Count; index++)
        {
            if (state[index] == 0 && Visit(index) is { } cycle)
            {
                return cycle;
            }
        }
        return null;
    }
}
