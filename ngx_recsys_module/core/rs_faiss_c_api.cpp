/*
 * Copyright (C) ngx_recsys authors
 *
 * The subset of the faiss C API that rs_index.c calls, implemented on
 * top of the faiss C++ library.  Debian ships libfaiss without
 * libfaiss_c, so the build compiles this file only when -lfaiss_c is
 * missing; where the real library exists it is linked instead.  That is
 * why nothing here may have external linkage except C API functions, and
 * why every signature comes from the shipped faiss/c_api headers.
 */


#include <faiss/AutoTune.h>
#include <faiss/Index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/index_io_c.h>

#include <cstring>
#include <exception>


/*
 * Upstream keeps a thread_local std::exception_ptr; a fixed buffer does
 * the same job but cannot itself fail while an error is being reported,
 * and needs no TLS destructor that would pin the module on dlclose().
 */
static thread_local char  rs_faiss_last_error[1024];


static void
rs_faiss_set_error(const char *msg) noexcept
{
    if (msg == nullptr || msg[0] == '\0') {
        msg = "unknown error";
    }

    std::strncpy(rs_faiss_last_error, msg, sizeof(rs_faiss_last_error) - 1);
    rs_faiss_last_error[sizeof(rs_faiss_last_error) - 1] = '\0';
}


/*
 * No exception may cross into C: the codes and the "last error" message
 * follow upstream's CATCH_AND_HANDLE, minus its stderr printing, which
 * would end up in nginx's error log unformatted.
 */
template <typename F>
static int
rs_faiss_guard(F &&fn) noexcept
{
    try {
        fn();
        return OK;

    } catch (const faiss::FaissException &e) {
        rs_faiss_set_error(e.what());
        return FAISS_EXCEPT;

    } catch (const std::exception &e) {
        rs_faiss_set_error(e.what());
        return STD_EXCEPT;

    } catch (...) {
        rs_faiss_set_error("unknown exception");
        return UNKNOWN_EXCEPT;
    }
}


static faiss::Index *
rs_faiss_index(FaissIndex *index) noexcept
{
    return reinterpret_cast<faiss::Index *>(index);
}


static const faiss::Index *
rs_faiss_const_index(const FaissIndex *index) noexcept
{
    return reinterpret_cast<const faiss::Index *>(index);
}


/* extern "C" turns any drift from the shipped prototypes into an error */
extern "C" {


const char *
faiss_get_last_error()
{
    /* like upstream: NULL until some call has failed on this thread */
    return rs_faiss_last_error[0] != '\0' ? rs_faiss_last_error : nullptr;
}


int
faiss_index_factory(FaissIndex **p_index, int d, const char *description,
    FaissMetricType metric)
{
    return rs_faiss_guard([&] {
        faiss::Index  *index;

        index = faiss::index_factory(d, description,
                                     static_cast<faiss::MetricType>(metric));
        *p_index = reinterpret_cast<FaissIndex *>(index);
    });
}


void
faiss_Index_free(FaissIndex *obj)
{
    delete rs_faiss_index(obj);
}


int
faiss_Index_d(const FaissIndex *obj)
{
    return rs_faiss_const_index(obj)->d;
}


idx_t
faiss_Index_ntotal(const FaissIndex *obj)
{
    return rs_faiss_const_index(obj)->ntotal;
}


int
faiss_Index_add(FaissIndex *index, idx_t n, const float *x)
{
    return rs_faiss_guard([&] {
        rs_faiss_index(index)->add(n, x);
    });
}


int
faiss_Index_search(const FaissIndex *index, idx_t n, const float *x, idx_t k,
    float *distances, idx_t *labels)
{
    return rs_faiss_guard([&] {
        rs_faiss_const_index(index)->search(n, x, k, distances, labels);
    });
}


int
faiss_Index_reconstruct(const FaissIndex *index, idx_t key, float *recons)
{
    return rs_faiss_guard([&] {
        rs_faiss_const_index(index)->reconstruct(key, recons);
    });
}


int
faiss_write_index(const FaissIndex *idx, FILE *f)
{
    return rs_faiss_guard([&] {
        faiss::write_index(rs_faiss_const_index(idx), f);
    });
}


int
faiss_read_index(FILE *f, int io_flags, FaissIndex **p_out)
{
    return rs_faiss_guard([&] {
        faiss::Index  *index;

        index = faiss::read_index(f, io_flags);
        *p_out = reinterpret_cast<FaissIndex *>(index);
    });
}


int
faiss_ParameterSpace_new(FaissParameterSpace **space)
{
    return rs_faiss_guard([&] {
        *space = reinterpret_cast<FaissParameterSpace *>(
                     new faiss::ParameterSpace());
    });
}


void
faiss_ParameterSpace_free(FaissParameterSpace *obj)
{
    delete reinterpret_cast<faiss::ParameterSpace *>(obj);
}


int
faiss_ParameterSpace_set_index_parameter(const FaissParameterSpace *space,
    FaissIndex *cindex, const char *name, double value)
{
    return rs_faiss_guard([&] {
        reinterpret_cast<const faiss::ParameterSpace *>(space)
            ->set_index_parameter(rs_faiss_index(cindex), name, value);
    });
}


} /* extern "C" */
