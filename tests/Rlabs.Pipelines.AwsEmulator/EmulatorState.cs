using Rlabs.Pipelines.AwsEmulator.Model;
using Rlabs.Pipelines.AwsEmulator.Services;

namespace Rlabs.Pipelines.AwsEmulator;

/// <summary>Settings of one emulator instance.</summary>
public sealed class EmulatorOptions
{
    /// <summary>0 picks a free port.</summary>
    public int Port { get; set; }

    /// <summary>botocore's data directory (the authority requests are validated against).</summary>
    public string BotocoreDataDirectory { get; set; } = BotocoreModel.DefaultDataDirectory;

    /// <summary>The account every resource belongs to and GetCallerIdentity reports.</summary>
    public string AccountId { get; set; } = "123456789012";

    /// <summary>When set, the request log is written here as JSON when the emulator stops.</summary>
    public string? StateFile { get; set; }
}

/// <summary>The state of all emulated services, the request log and the fault rules.</summary>
public sealed class EmulatorState
{
    private readonly Dictionary<string, IEmulatedService> _services = new(StringComparer.Ordinal);

    public EmulatorState(EmulatorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        BotocoreModel Load(string name) => BotocoreModel.Load(options.BotocoreDataDirectory, name);
        Logs = new LogsService(Load("logs"));
        SageMaker = new SageMakerService(Load("sagemaker"), Logs);
        S3 = new S3Service(Load("s3")) { AccountId = options.AccountId };
        SageMaker.Executor = new LocalProcessingJobExecutor(S3);
        SageMaker.Pipelines.ReadS3Object = S3.GetObjectBytes;
        Ec2 = new Ec2Service(Load("ec2"));
        Add(Logs);
        Add(SageMaker);
        Add(Ec2);
        Sts = new StsService(Load("sts"));
        Add(Sts);
        Iam = new IamService(Load("iam"));
        Lambda = new LambdaService(Load("lambda"), Iam);
        Events = new EventsService(Load("events"));
        Add(Iam);
        Add(Lambda);
        Add(Events);
        Ecr = new EcrService(Load("ecr"));
        Add(Ecr);
        Scheduler = new SchedulerService(Load("scheduler"), Iam, SageMaker);
        Add(Scheduler);
    }

    public EmulatorOptions Options { get; }

    /// <summary>Access keys the emulator accepts; empty accepts any. Others get each service's
    /// invalid-credentials error, so tests can prove how a bad key surfaces.</summary>
    public HashSet<string> KnownAccessKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>Keep each non-S3 request's raw form (headers, body) in the log; off by default to save memory.</summary>
    public bool CaptureRawRequests { get; set; }

    public RequestLog Requests { get; } = new();

    public FaultInjector Faults { get; } = new();

    public LogsService Logs { get; }

    public SageMakerService SageMaker { get; }

    public S3Service S3 { get; }

    public Ec2Service Ec2 { get; }

    public StsService Sts { get; }

    public IamService Iam { get; }

    public LambdaService Lambda { get; }

    public EventsService Events { get; }

    public EcrService Ecr { get; }

    public SchedulerService Scheduler { get; }

    public IReadOnlyDictionary<string, IEmulatedService> Services => _services;

    /// <summary>Forgets every resource, request and fault.</summary>
    public void Reset()
    {
        foreach (var service in _services.Values)
        {
            service.Reset();
        }

        S3.Reset();
        Requests.Clear();
        Faults.Clear();
        KnownAccessKeys.Clear();
    }

    /// <summary>Whether the key is temporary (web identity) and past its expiration.</summary>
    internal bool IsExpiredKey(string accessKeyId) => Sts.IsExpired(accessKeyId, DateTimeOffset.UtcNow);

    internal bool IsUnknownKey(string accessKeyId)
    {
        lock (KnownAccessKeys)
        {
            return KnownAccessKeys.Count > 0 && !KnownAccessKeys.Contains(accessKeyId);
        }
    }

    private void Add(IEmulatedService service) => _services[service.Name] = service;
}
