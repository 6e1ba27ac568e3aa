using System.Text.Json;

namespace Rlabs.Pipelines.Tests.Running;

/// <summary>
/// The step script and pipelines of the graph tests, the same for the process, container and SageMaker runtimes:
/// each step writes when it started and ended (its own clock readings) and what input it saw, so concurrency is
/// proven by overlapping intervals the steps wrote, never by the test's wall clock.
/// </summary>
internal static class GraphProbe
{
    public const string Script = """
        import argparse, json, os, sys, time
        p = argparse.ArgumentParser()
        p.add_argument('-j', '--job-id', required=True)
        p.add_argument('-i', '--input-data-zip')
        p.add_argument('-ip', '--input-data-path')
        p.add_argument('-o', '--output-data-path', required=True)
        p.add_argument('-s', '--source-code-zip', required=True)
        p.add_argument('-r', '--requirements-path', required=True)
        args, extra = p.parse_known_args()
        params = dict(zip([e[2:] for e in extra[::2]], extra[1::2]))
        name = os.environ['RLABS_STEP_NAME']
        start = time.time()
        meet = params.get('meet')
        if meet:
            # A rendezvous: each step of the group waits (up to a minute) until all have started.
            os.makedirs(meet, exist_ok=True)
            open(os.path.join(meet, name), 'w').close()
            deadline = time.time() + 60
            while time.time() < deadline and len(os.listdir(meet)) < int(params['meet_count']):
                time.sleep(0.05)
        time.sleep(float(params.get('sleep', '0')))
        inputs = sorted(os.listdir(args.input_data_path)) if args.input_data_path and os.path.isdir(args.input_data_path) else []
        if params.get('until') and params['until'] not in inputs:
            print('not ready yet, try again', flush=True)
            sys.exit(75)
        if params.get('fail'):
            print('failing on purpose', file=sys.stderr, flush=True)
            sys.exit(int(params['fail']))
        os.makedirs(args.output_data_path, exist_ok=True)
        with open(os.path.join(args.output_data_path, name + '.json'), 'w', encoding='utf-8') as f:
            json.dump({'start': start, 'end': time.time(), 'inputs': inputs}, f)
        """;

    /// <summary>A → {b, c} → d; b and c share the output folder d reads; <paramref name="middle"/> holds b's and c's extra params.</summary>
    public static string Diamond(string middle, string header = "", string bParams = "", string cParams = "") => header + $$"""
        pipeline:
          - { name: a, job_suffix: A, code: probe.py, output_path: a }
          - { name: b, job_suffix: B, code: probe.py, input_data: "a/<job_id>", output_path: mid, depends_on: [a], params: { {{middle}}{{bParams}} } }
          - { name: c, job_suffix: C, code: probe.py, input_data: "a/<job_id>", output_path: mid, depends_on: [a], params: { {{middle}}{{cParams}} } }
          - { name: d, job_suffix: D, code: probe.py, input_data: "mid/<job_id>", output_path: d, depends_on: [b, c] }
        """;

    /// <summary>One step that exits 75 ("try again") until its input folder holds a file named ready.</summary>
    public static string TryAgain(string header = "") => header + """
        retry: { attempts: 3, backoff: "PT0.2S", exit_codes: [75] }
        pipeline:
          - { name: wait, job_suffix: W, code: probe.py, input_data: "gate/<job_id>", output_path: out, params: { until: ready } }
        """;

    /// <summary>What a step wrote about itself.</summary>
    public sealed record Record(double Start, double End, IReadOnlyList<string> Inputs);

    public static Record Read(byte[] json)
    {
        var root = JsonDocument.Parse(json).RootElement;
        return new Record(root.GetProperty("start").GetDouble(), root.GetProperty("end").GetDouble(), root.GetProperty("inputs").EnumerateArray().Select(e => e.GetString()!).ToList());
    }

    /// <summary>Whether two steps ran at the same time: each started before the other ended.</summary>
    public static bool Overlap(Record x, Record y) => x.Start < y.End && y.Start < x.End;

    public static string Describe(RlabsPipelineRun run) =>
        string.Join(" | ", run.Steps.Select(s => $"{s.StepName} {s.Status} {s.FailureReason} {string.Join(" / ", s.LogTail)}"));
}
