namespace Rlabs.Pipelines.Planning;

/// <summary>
/// Plans every run, local or cloud, once: where it runs, and each step's job name, keys, command,
/// environment, image and resources. Runtimes only bind the plan to their world.
/// </summary>
public static class RunPlanner
{
    /// <summary>Name of the module's working folder inside the repository (local runs and data; left out of the source zip).</summary>
    public const string WorkFolder = ".rlabs";

    /// <summary>How long a step may run when neither it nor the pipeline says: SageMaker's own default, everywhere.</summary>
    public static readonly TimeSpan DefaultMaxRuntime = TimeSpan.FromDays(1);

    /// <summary>
    /// Where the run goes: each step's instance type (the request's, else the step's, else the pipeline's,
    /// else <see cref="InstanceTypes.Default"/>); one run is either all local or all SageMaker.
    /// </summary>
    public static RunTarget Target(RunRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var pipeline = request.Pipeline;
        if (request.InstanceType is { } given && InstanceTypes.Validate(given) is { } typeProblem)
        {
            throw new RlabsRunException($"-InstanceType {typeProblem}", "InvalidInstanceType", RlabsRunErrorKind.InvalidArgument, given);
        }
        var effective = pipeline.Steps.Select(s => InstanceType(request, s)).ToList();
        var local = effective.Count(InstanceTypes.IsLocal);
        if (local > 0 && local < effective.Count)
        {
            throw new RlabsRunException(
                $"Some steps of {pipeline.Path} run locally and some on SageMaker ({string.Join(", ", effective.Distinct(StringComparer.OrdinalIgnoreCase))}); one run is either. Give the whole run one instance type: 'local', or an ml.* type.",
                "MixedInstanceTypes", RlabsRunErrorKind.InvalidArgument, pipeline.Path);
        }
        return local > 0 ? RunTarget.Local : RunTarget.Cloud;
    }

    /// <summary>
    /// Plans the run. <paramref name="region"/> picks the default image (null when unknown: a step that needs
    /// the default image then carries <see cref="StepPlan.ImageProblem"/>, and its runtime decides).
    /// </summary>
    public static RunPlan Plan(RunRequest request, string? region)
    {
        var target = Target(request);
        var pipeline = request.Pipeline;
        var defaults = pipeline.Defaults;
        var plan = new RunPlan(request, target);
        if (plan.Graph.Cycle is { } cycle)
        {
            throw new RlabsRunException($"The steps of {pipeline.Path} depend on each other in a cycle: {string.Join(" -> ", cycle.Select(i => pipeline.Steps[i].Name))}. Run Test-RlabsPipeline to see where.", "DependencyCycle", RlabsRunErrorKind.InvalidArgument, pipeline.Path);
        }
        for (var index = 0; index < pipeline.Steps.Count; index++)
        {
            var step = pipeline.Steps[index];
            string? image = null;
            string? imageProblem = null;
            try
            {
                image = DefaultImages.ForStep(pipeline, step, region);
            }
            catch (RlabsConfigException ex)
            {
                imageProblem = ex.Message;
            }
            var resources = new StepResources(
                InstanceType(request, step),
                step.InstanceCount ?? defaults.InstanceCount ?? 1,
                step.VolumeSizeGb ?? defaults.VolumeSizeGb ?? 30,
                step.MaxRuntime ?? defaults.MaxRuntime ?? DefaultMaxRuntime);
            var inputKey = StepContract.InputKey(step, request.JobId);
            var producer = inputKey is null
                ? null
                : Enumerable.Range(0, pipeline.Steps.Count).Reverse()
                    .Where(other => plan.Graph.IsAncestor(other, index) && StepGraph.Overlaps(StepContract.OutputKey(pipeline.Steps[other], request.JobId), inputKey))
                    .Select(other => pipeline.Steps[other].Name)
                    .FirstOrDefault();
            plan.Add(new StepPlan(plan, step, index, plan.Graph.Dependencies[index], producer, image, imageProblem, resources));
        }
        return plan;
    }

    private static string InstanceType(RunRequest request, RlabsPipelineStep step) =>
        request.InstanceType ?? step.InstanceType ?? request.Pipeline.Defaults.InstanceType ?? InstanceTypes.Default;
}
