using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using FastIommu.Formats.RiscV;

namespace FastIommu.Tests.Native;

/// <summary>
/// Generates native-layout/include/riscv_iommu.h from the C# formats (FastIommu.Formats.RiscV): every public constant
/// of a format type becomes <c>RISCV_IOMMU_&lt;TYPE&gt;_&lt;NAME&gt;</c>, every enum member
/// <c>RISCV_IOMMU_&lt;ENUM&gt;_&lt;MEMBER&gt;</c>, every blittable format struct a C struct with <c>_Static_assert</c> on
/// its size and each field's offset. The C# is the source: <see cref="RiscvIommuHeaderTests"/> fails when the checked-in
/// header differs from what this produces, so neither side can drift.
/// </summary>
internal static class RiscvIommuHeader
{
    private const string Prefix = "RISCV_IOMMU_";

    /// <summary>The type names as the header spells them, where the snake-case of the C# name is not the spec's.</summary>
    private static readonly Dictionary<string, string> TypeNames = new(StringComparer.Ordinal)
    {
        ["RegisterOffsets"] = "REG",
        ["FaultCauses"] = "FAULT_CAUSE",
        ["Pte"] = "PTE",
        ["CqCsr"] = "CQCSR",
        ["FqCsr"] = "FQCSR",
        ["PqCsr"] = "PQCSR",
    };

    public static string Generate()
    {
        var types = typeof(Pte).Assembly.GetTypes()
            .Where(t => t.IsPublic && t.Namespace == typeof(Pte).Namespace && !t.IsGenericTypeDefinition)
            .OrderBy(t => t.Name, StringComparer.Ordinal)
            .ToList();

        var text = new StringBuilder();
        text.Append("""
            /*
             * riscv_iommu.h - the RISC-V IOMMU v1.0 hardware structures: bit positions and masks of every field, the
             * register offsets, fault causes and transaction types, and the in-memory structures as C structs with their
             * size and offsets asserted at compile time. Little-endian; bit N of a 64-bit word is (1ull << N).
             *
             * GENERATED from the C# formats (src/FastIommu/Formats/RiscV) by tests/FastIommu.Tests/Native/RiscvIommuHeader.cs.
             * Do not edit: the test RiscvIommuHeaderTests fails when this file and the C# differ. To regenerate, run
             *   FASTIOMMU_UPDATE_HEADER=1 dotnet test tests/FastIommu.Tests -c Release --filter FullyQualifiedName~RiscvIommuHeader
             * Names: RISCV_IOMMU_<STRUCTURE>_<FIELD>_{SHIFT,BITS,BIT,MASK}, the structure and field as the spec names them.
             */
            #ifndef RISCV_IOMMU_H
            #define RISCV_IOMMU_H

            #include <stddef.h>
            #include <stdint.h>

            #ifdef __cplusplus
            #define RISCV_IOMMU_STATIC_ASSERT(condition, message) static_assert(condition, message)
            #else
            #define RISCV_IOMMU_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
            #endif

            """);

        foreach (Type type in types)
        {
            if (type.IsEnum)
            {
                AppendEnum(text, type);
            }
            else
            {
                AppendConstants(text, type);
            }
        }

        text.Append("/* ---------------------------------------------------------------------------- in-memory structures */\n\n");
        foreach (Type type in types.Where(IsFormatStruct))
        {
            AppendStruct(text, type);
        }

        text.Append("#endif /* RISCV_IOMMU_H */\n");
        return text.ToString();
    }

    private static bool IsFormatStruct(Type type) =>
        type.IsValueType && !type.IsEnum && type.StructLayoutAttribute?.Value == LayoutKind.Sequential
        && type.StructLayoutAttribute.Size > 0 && InstanceFields(type).Length > 0;

    private static FieldInfo[] InstanceFields(Type type) =>
        type.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);

    private static string TypeName(Type type) => TypeNames.TryGetValue(type.Name, out string? name) ? name : Snake(type.Name);

    private static void AppendEnum(StringBuilder text, Type type)
    {
        text.Append(CultureInfo.InvariantCulture, $"/* {type.Name} */\n");
        string name = TypeName(type);
        foreach (string member in Enum.GetNames(type))
        {
            object value = Convert.ChangeType(Enum.Parse(type, member), Enum.GetUnderlyingType(type), CultureInfo.InvariantCulture);
            text.Append(CultureInfo.InvariantCulture, $"#define {Prefix}{name}_{Snake(member)} {Literal(value)}\n");
        }

        text.Append('\n');
    }

    private static void AppendConstants(StringBuilder text, Type type)
    {
        var constants = type.GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType != typeof(string))
            .OrderBy(f => f.MetadataToken)
            .ToList();
        if (constants.Count == 0)
        {
            return;
        }

        text.Append(CultureInfo.InvariantCulture, $"/* {type.Name} */\n");
        string name = TypeName(type);
        foreach (FieldInfo constant in constants)
        {
            text.Append(CultureInfo.InvariantCulture, $"#define {Prefix}{name}_{Snake(constant.Name)} {Literal(constant.GetRawConstantValue()!)}\n");
        }

        text.Append('\n');
    }

    private static void AppendStruct(StringBuilder text, Type type)
    {
        string tag = "riscv_iommu_" + TypeName(type).ToLowerInvariant();
        int size = Marshal.SizeOf(type);
        text.Append(CultureInfo.InvariantCulture, $"/* {type.Name}: {size} bytes */\nstruct {tag} {{\n");
        FieldInfo[] fields = InstanceFields(type);
        foreach (FieldInfo field in fields)
        {
            text.Append(CultureInfo.InvariantCulture, $"    {CType(field.FieldType)} {FieldName(field)};\n");
        }

        text.Append("};\n");
        text.Append(CultureInfo.InvariantCulture, $"RISCV_IOMMU_STATIC_ASSERT(sizeof(struct {tag}) == {size}, \"{tag} is {size} bytes\");\n");
        foreach (FieldInfo field in fields)
        {
            int offset = (int)Marshal.OffsetOf(type, field.Name);
            text.Append(CultureInfo.InvariantCulture,
                $"RISCV_IOMMU_STATIC_ASSERT(offsetof(struct {tag}, {FieldName(field)}) == {offset}, \"{tag}.{FieldName(field)} at {offset}\");\n");
        }

        text.Append('\n');
    }

    private static string FieldName(FieldInfo field) => Snake(field.Name.TrimStart('_')).ToLowerInvariant();

    private static string CType(Type type)
    {
        if (type == typeof(ulong) || type == typeof(long))
        {
            return "uint64_t";
        }

        if (type == typeof(uint) || type == typeof(int))
        {
            return "uint32_t";
        }

        if (type == typeof(ushort))
        {
            return "uint16_t";
        }

        if (type == typeof(byte))
        {
            return "uint8_t";
        }

        if (IsFormatStruct(type))
        {
            // A one-register format (DeviceContextTc in DeviceContext): its raw word, so C reads it as the spec draws it.
            FieldInfo[] inner = InstanceFields(type);
            return inner.Length == 1 ? CType(inner[0].FieldType) : "struct riscv_iommu_" + TypeName(type).ToLowerInvariant();
        }

        throw new NotSupportedException($"No C type for {type} in a format struct.");
    }

    private static string Literal(object value) => value switch
    {
        ulong u => $"0x{u:x}ull",
        long l => l < 0 ? $"(-{-(l + 1)}ll - 1)" : $"{l}ll",
        uint u => $"0x{u:x}u",
        int i => i < 0 ? $"(-{-(i + 1)} - 1)" : i.ToString(CultureInfo.InvariantCulture),
        ushort s => s.ToString(CultureInfo.InvariantCulture),
        short s => s.ToString(CultureInfo.InvariantCulture),
        byte b => b.ToString(CultureInfo.InvariantCulture),
        sbyte b => b.ToString(CultureInfo.InvariantCulture),
        bool b => b ? "1" : "0",
        _ => throw new NotSupportedException($"No C literal for {value.GetType()}."),
    };

    /// <summary>PascalCase to UPPER_SNAKE: a new word at each capital that follows a lower-case letter or a digit, and
    /// before the last capital of a run followed by a lower-case letter (MSIPtp -> MSI_PTP). Digits stay with their word.</summary>
    internal static string Snake(string name)
    {
        var result = new StringBuilder(name.Length + 8);
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (i > 0 && char.IsUpper(c))
            {
                char previous = name[i - 1];
                bool nextIsLower = i + 1 < name.Length && char.IsLower(name[i + 1]);
                if (char.IsLower(previous) || char.IsDigit(previous) || (char.IsUpper(previous) && nextIsLower))
                {
                    result.Append('_');
                }
            }

            result.Append(char.ToUpperInvariant(c));
        }

        return result.ToString();
    }
}
