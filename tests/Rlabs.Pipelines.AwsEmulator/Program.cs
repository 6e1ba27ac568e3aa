using System.Globalization;
using System.Runtime.InteropServices;
using Rlabs.Pipelines.AwsEmulator;

// Standalone mode for Pester and manual runs:
//   dotnet Rlabs.Pipelines.AwsEmulator.dll [--port 0] [--botocore-data DIR] [--state-file FILE] [--account-id ID]
// Prints "Listening on http://127.0.0.1:<port>" once ready; stops when stdin closes or on SIGTERM/SIGINT.
var options = new EmulatorOptions();
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--port":
            options.Port = int.Parse(Next(), CultureInfo.InvariantCulture);
            break;
        case "--botocore-data":
            options.BotocoreDataDirectory = Next();
            break;
        case "--state-file":
            options.StateFile = Next();
            break;
        case "--account-id":
            options.AccountId = Next();
            break;
        default:
            Console.Error.WriteLine($"Unknown argument {args[i]}. Usage: [--port N] [--botocore-data DIR] [--state-file FILE] [--account-id ID]");
            return 2;
    }
}

using var stop = new CancellationTokenSource();
using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
{
    context.Cancel = true;
    stop.Cancel();
});
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
{
    context.Cancel = true;
    stop.Cancel();
});

await using var host = await AwsEmulatorHost.StartAsync(options, stop.Token);
Console.Out.WriteLine($"Listening on {host.BaseUrl.ToString().TrimEnd('/')}");
Console.Out.Flush();

var stdinClosed = Task.Run(() =>
{
    using var stdin = Console.OpenStandardInput();
    var buffer = new byte[256];
    while (stdin.Read(buffer, 0, buffer.Length) > 0)
    {
    }
});
await Task.WhenAny(stdinClosed, Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { }, TaskScheduler.Default));
return 0;
