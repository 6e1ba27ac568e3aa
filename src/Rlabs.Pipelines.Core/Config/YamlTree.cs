using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace Rlabs.Pipelines.Config;

/// <summary>A YAML node with the position it was read from; aliases share the anchored node.</summary>
internal abstract class YamlNodeBase
{
    protected YamlNodeBase(Mark start)
    {
        Line = (int)Math.Min(start.Line, int.MaxValue);
        Column = (int)Math.Min(start.Column, int.MaxValue);
    }

    public int Line { get; }

    public int Column { get; }

    public abstract string KindName { get; }
}

internal sealed class YamlScalarNode : YamlNodeBase
{
    public YamlScalarNode(Scalar scalar)
        : base(scalar.Start)
    {
        Value = scalar.Value;
        IsPlain = scalar.Style == ScalarStyle.Plain;
    }

    public string Value { get; }

    public bool IsPlain { get; }

    /// <summary>YAML 1.2 core schema null: an empty plain scalar, ~ or null.</summary>
    public bool IsNull => IsPlain && (Value.Length == 0 || Value == "~" || Value is "null" or "Null" or "NULL");

    public override string KindName => IsNull ? "null" : "a scalar";
}

internal sealed class YamlSequenceNode : YamlNodeBase
{
    public YamlSequenceNode(Mark start)
        : base(start)
    {
    }

    public List<YamlNodeBase> Items { get; } = [];

    public override string KindName => "a list";
}

internal sealed class YamlMappingNode : YamlNodeBase
{
    public YamlMappingNode(Mark start)
        : base(start)
    {
    }

    public List<KeyValuePair<YamlNodeBase, YamlNodeBase>> Entries { get; } = [];

    public override string KindName => "a mapping";
}

/// <summary>
/// Builds a node tree from parser events without recursion, so hostile input (deep nesting, alias
/// bombs) can neither overflow the stack nor expand exponentially: aliases point at the shared node.
/// </summary>
internal static class YamlTreeReader
{
    public const int MaxDepth = 64;

    public static YamlNodeBase? Read(string text, out IReadOnlyList<YamlTreeError> errors)
    {
        var problems = new List<YamlTreeError>();
        errors = problems;
        using var reader = new StringReader(text);
        var parser = new Parser(reader);
        var lastMark = Mark.Empty;
        var anchors = new Dictionary<string, YamlNodeBase>(StringComparer.Ordinal);
        var stack = new Stack<(YamlNodeBase Node, string? Anchor, YamlNodeBase? PendingKey)>();
        YamlNodeBase? root = null;
        var documents = 0;
        try
        {
            while (parser.MoveNext())
            {
                var current = parser.Current!;
                lastMark = current.End;
                switch (current)
                {
                    case DocumentStart ds when !ds.IsImplicit || documents > 0:
                        documents++;
                        if (documents > 1)
                        {
                            problems.Add(new YamlTreeError("MultipleDocuments", ds.Start, "The file holds more than one YAML document.", "Keep one document: remove the '---' separators and merge the content."));
                            return root;
                        }
                        break;
                    case DocumentStart:
                        documents++;
                        break;
                    case Scalar scalar:
                        {
                            var node = new YamlScalarNode(scalar);
                            if (!scalar.Anchor.IsEmpty)
                            {
                                anchors[scalar.Anchor.Value] = node;
                            }
                            if (!Attach(stack, node, ref root))
                            {
                                return root;
                            }
                            break;
                        }
                    case AnchorAlias alias:
                        {
                            if (!anchors.TryGetValue(alias.Value.Value, out var target))
                            {
                                problems.Add(new YamlTreeError("UnknownAlias", alias.Start, $"The alias '*{alias.Value.Value}' refers to no anchor defined before it.", $"Define '&{alias.Value.Value}' on a node that comes before this alias."));
                                return null;
                            }
                            if (!Attach(stack, target, ref root))
                            {
                                return root;
                            }
                            break;
                        }
                    case SequenceStart seq:
                        if (stack.Count >= MaxDepth)
                        {
                            problems.Add(TooDeep(seq.Start));
                            return null;
                        }
                        stack.Push((new YamlSequenceNode(seq.Start), seq.Anchor.IsEmpty ? null : seq.Anchor.Value, null));
                        break;
                    case MappingStart map:
                        if (stack.Count >= MaxDepth)
                        {
                            problems.Add(TooDeep(map.Start));
                            return null;
                        }
                        stack.Push((new YamlMappingNode(map.Start), map.Anchor.IsEmpty ? null : map.Anchor.Value, null));
                        break;
                    case SequenceEnd:
                    case MappingEnd:
                        {
                            var (node, anchor, _) = stack.Pop();
                            // Registered only once complete, so an alias can never point into its own anchor.
                            if (anchor is not null)
                            {
                                anchors[anchor] = node;
                            }
                            if (!Attach(stack, node, ref root))
                            {
                                return root;
                            }
                            break;
                        }
                }
            }
        }
        catch (YamlException ex)
        {
            problems.Add(TabIndentation(text) ?? new YamlTreeError("YamlSyntax", ex.Start, CleanMessage(ex.Message), SyntaxHint(ex.Message)));
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or IndexOutOfRangeException or NullReferenceException)
        {
            // The parser has internal failure modes on some malformed input; still a syntax error to the user.
            problems.Add(TabIndentation(text) ?? new YamlTreeError("YamlSyntax", lastMark, "The YAML cannot be parsed after this position.", "Check quotes, brackets and indentation from here on."));
            return null;
        }

        return root;
    }

    private static bool Attach(Stack<(YamlNodeBase Node, string? Anchor, YamlNodeBase? PendingKey)> stack, YamlNodeBase node, ref YamlNodeBase? root)
    {
        if (stack.Count == 0)
        {
            root = node;
            return true;
        }
        var (parent, anchor, pendingKey) = stack.Pop();
        switch (parent)
        {
            case YamlSequenceNode seq:
                seq.Items.Add(node);
                stack.Push((parent, anchor, null));
                break;
            case YamlMappingNode when pendingKey is null:
                stack.Push((parent, anchor, node));
                break;
            case YamlMappingNode:
                ((YamlMappingNode)parent).Entries.Add(new KeyValuePair<YamlNodeBase, YamlNodeBase>(pendingKey, node));
                stack.Push((parent, anchor, null));
                break;
        }
        return true;
    }

    /// <summary>YAML forbids tabs in indentation; the parser's own message points elsewhere, so find the line.</summary>
    private static YamlTreeError? TabIndentation(string text)
    {
        var line = 0;
        foreach (var raw in text.Split('\n'))
        {
            line++;
            var indentation = raw.Length - raw.TrimStart(' ', '\t').Length;
            if (raw.AsSpan(0, indentation).Contains('\t') && raw.Trim().Length > 0 && !raw.TrimStart().StartsWith('#'))
            {
                return new YamlTreeError("YamlSyntax", new Mark(0, line, raw.IndexOf('\t', StringComparison.Ordinal) + 1), "This line is indented with a tab.", "YAML does not allow tabs for indentation: indent with spaces.");
            }
        }
        return null;
    }

    private static YamlTreeError TooDeep(Mark at) =>
        new("TooDeep", at, $"The YAML is nested deeper than {MaxDepth} levels.", "A pipeline file needs only a few levels; check for runaway brackets or indentation.");

    private static string CleanMessage(string message)
    {
        // YamlDotNet prefixes messages with "(Line: 3, Col: 5, Idx: 20) - (…): "; we report the position ourselves.
        var index = message.LastIndexOf("): ", StringComparison.Ordinal);
        return index >= 0 && message.StartsWith('(') ? message[(index + 3)..] : message;
    }

    private static string SyntaxHint(string message)
    {
        if (message.Contains("tab", StringComparison.OrdinalIgnoreCase))
        {
            return "YAML does not allow tabs for indentation: indent with spaces.";
        }
        if (message.Contains("mapping values are not allowed", StringComparison.OrdinalIgnoreCase))
        {
            return "Put a space after ':' in 'key: value', and quote values that contain ': '.";
        }
        if (message.Contains("did not find expected", StringComparison.OrdinalIgnoreCase))
        {
            return "Check the indentation of this line against the lines above it, and that quotes and brackets are closed.";
        }
        return "Fix the YAML syntax at this position (indentation, quotes, brackets).";
    }
}

internal sealed record YamlTreeError(string RuleName, Mark At, string Message, string Hint)
{
    public int Line => (int)Math.Clamp(At.Line, 1, int.MaxValue);

    public int Column => (int)Math.Clamp(At.Column, 1, int.MaxValue);
}
